"""Verifying a city's footage request before anything else in the gateway sees it.

Checks run in a fixed order (shape, key, signature, body, city, freshness, caps, cameras) and
the replay claim comes last, so a message rejected for any other reason does not burn its id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.errors import MalformedMessageError, SignatureError
from protocol.messages import MAX_RADIUS_M, MAX_WINDOW, FootageRequest
from protocol.signing import Domain, SignedEnvelope, key_id, verify
from protocol.timeutil import format_time

from .database import connect, create_tables

MAX_CLOCK_SKEW = timedelta(minutes=5)
# Replay records outlive respond_by (after which EXPIRED rejects anyway) by this margin, so a
# gateway clock that is set back cannot revive an old request.
REPLAY_MARGIN = timedelta(days=7)


@dataclass(frozen=True)
class Caps:
    """Limits on what a request may ask; a resident can tighten the protocol's caps, not loosen."""

    max_window: timedelta = MAX_WINDOW
    max_radius_m: float = MAX_RADIUS_M
    clock_skew: timedelta = MAX_CLOCK_SKEW

    def __post_init__(self) -> None:
        if not timedelta(0) < self.max_window <= MAX_WINDOW:
            raise ValueError(f"max_window must be more than 0 and at most {MAX_WINDOW}")
        if not 0 < self.max_radius_m <= MAX_RADIUS_M:
            raise ValueError(f"max_radius_m must be more than 0 and at most {MAX_RADIUS_M:g} m")
        if not timedelta(0) <= self.clock_skew <= MAX_CLOCK_SKEW:
            raise ValueError(f"clock_skew must be between 0 and {MAX_CLOCK_SKEW}")


class RejectionReason(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_CITY = "wrong_city"
    ISSUED_IN_FUTURE = "issued_in_future"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    WINDOW_TOO_LONG = "window_too_long"
    WINDOW_IN_FUTURE = "window_in_future"
    RADIUS_TOO_LARGE = "radius_too_large"
    NOT_OUR_CAMERA = "not_our_camera"


class RequestRejectedError(Exception):
    """A city message failed verification; it must not reach the inbox."""

    def __init__(self, reason: RejectionReason, detail: str, request_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        # Known once the body has been parsed; lets the audit log say which request it was.
        self.request_id = request_id
        super().__init__(f"Footage request rejected ({reason.value}): {detail}")


class ReplayGuard:
    """Remembers every accepted request id and nonce in the gateway's SQLite database."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        create_tables(
            db_path,
            "CREATE TABLE IF NOT EXISTS replay_claims ("
            " request_id TEXT NOT NULL UNIQUE, nonce TEXT NOT NULL UNIQUE,"
            " keep_until REAL NOT NULL);",
        )

    def claim(self, request_id: str, nonce: str, keep_until: datetime) -> bool:
        """Record the pair atomically; False (and nothing recorded) if either was seen before."""
        try:
            with connect(self._db_path) as db:
                db.execute(
                    "INSERT INTO replay_claims (request_id, nonce, keep_until) VALUES (?, ?, ?)",
                    (request_id, nonce, keep_until.timestamp()),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def prune(self, now: datetime) -> int:
        """Forget claims whose keep-until time has passed; returns how many."""
        with connect(self._db_path) as db:
            cursor = db.execute(
                "DELETE FROM replay_claims WHERE keep_until < ?", (now.timestamp(),)
            )
        return cursor.rowcount


def _parse_envelope(data: object) -> SignedEnvelope:
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as err:
            raise RequestRejectedError(RejectionReason.MALFORMED, "not valid JSON") from err
    try:
        return SignedEnvelope.from_json(data)
    except MalformedMessageError as err:
        raise RequestRejectedError(RejectionReason.MALFORMED, str(err)) from err


def verify_footage_request(
    data: object,
    *,
    city_key: Ed25519PublicKey,
    city_id: str,
    registration_ids: Collection[str],
    caps: Caps,
    replay: ReplayGuard,
    now: datetime,
) -> tuple[FootageRequest, SignedEnvelope]:
    """Return the request and its envelope if every check passes; else RequestRejectedError."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    envelope = _parse_envelope(data)
    if envelope.key_id != key_id(city_key):
        raise RequestRejectedError(
            RejectionReason.UNKNOWN_KEY,
            f"signed by key {envelope.key_id[:16]}…, not the city key pinned at enrollment",
        )
    try:
        body = verify(envelope, city_key, Domain.FOOTAGE_REQUEST)
    except SignatureError as err:
        raise RequestRejectedError(RejectionReason.BAD_SIGNATURE, str(err)) from err
    try:
        request = FootageRequest.from_json(body)
    except MalformedMessageError as err:
        raise RequestRejectedError(RejectionReason.MALFORMED, str(err)) from err
    _check_request(request, city_id, registration_ids, caps, now)
    keep_until = max(request.respond_by, now) + REPLAY_MARGIN
    replay.prune(now)
    if not replay.claim(request.request_id, request.nonce, keep_until):
        raise RequestRejectedError(
            RejectionReason.REPLAYED,
            "this request id or nonce was already received once",
            request.request_id,
        )
    return request, envelope


def _check_request(
    request: FootageRequest,
    city_id: str,
    registration_ids: Collection[str],
    caps: Caps,
    now: datetime,
) -> None:
    def reject(reason: RejectionReason, detail: str) -> RequestRejectedError:
        return RequestRejectedError(reason, detail, request.request_id)

    latest = now + caps.clock_skew
    if request.city_id != city_id:
        raise reject(
            RejectionReason.WRONG_CITY, f"addressed from city {request.city_id!r}, not {city_id!r}"
        )
    if request.issued_at > latest:
        raise reject(
            RejectionReason.ISSUED_IN_FUTURE,
            f"issued at {format_time(request.issued_at)}, after the gateway's clock"
            f" ({format_time(now)}) allows",
        )
    if request.respond_by <= now:
        raise reject(
            RejectionReason.EXPIRED, f"the answer was due by {format_time(request.respond_by)}"
        )
    if request.window.duration > caps.max_window:
        raise reject(
            RejectionReason.WINDOW_TOO_LONG,
            f"asks for {_minutes(request.window.duration)} of footage; the limit is"
            f" {_minutes(caps.max_window)}",
        )
    if request.window.end > latest:
        raise reject(
            RejectionReason.WINDOW_IN_FUTURE,
            f"the window ends at {format_time(request.window.end)}, which has not happened yet",
        )
    if request.incident.radius_m > caps.max_radius_m:
        raise reject(
            RejectionReason.RADIUS_TOO_LARGE,
            f"covers a {request.incident.radius_m:g} m radius; the limit is"
            f" {caps.max_radius_m:g} m",
        )
    foreign = [rid for rid in request.registration_ids if rid not in registration_ids]
    if foreign or not request.registration_ids:
        raise reject(
            RejectionReason.NOT_OUR_CAMERA,
            f"names {len(foreign)} camera registration(s) this gateway does not hold",
        )


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} minutes"
