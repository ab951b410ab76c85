"""The request inbox: each verified request's state machine, kept in the gateway's database.

A request's state follows from its cameras' states (gateway/requeststate.py), except EXPIRED,
which is set when a pending request passes its respond-by time. Every change is one SQLite
transaction (BEGIN IMMEDIATE) that re-reads the request first, so two racing decisions
cannot both win.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.messages import FootageRequest
from protocol.signing import SignedEnvelope
from protocol.timeutil import TimeWindow, format_time, parse_time

from .database import add_columns, create_tables, transaction
from .requeststate import (
    CAMERA_TRANSITIONS,
    CameraState,
    InboxCamera,
    InboxError,
    InboxRequest,
    InvalidDecisionError,
    InvalidTransitionError,
    PreviewStatus,
    RequestNotFoundError,
    RequestState,
    derive_state,
    stored_progress,
)

__all__ = [
    "CameraState", "Inbox", "InboxCamera", "InboxError", "InboxRequest", "InvalidDecisionError",
    "InvalidTransitionError", "PreviewStatus", "RequestNotFoundError", "RequestState",
]  # fmt: skip

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox_requests (
    request_id TEXT PRIMARY KEY, request TEXT NOT NULL, envelope TEXT NOT NULL,
    state TEXT NOT NULL, received_at TEXT NOT NULL, received_us INTEGER NOT NULL,
    updated_at TEXT NOT NULL, respond_by_us INTEGER NOT NULL,
    approval_nonce TEXT NOT NULL UNIQUE, approved_window TEXT, decided_by TEXT, error TEXT,
    preview TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_requests_due ON inbox_requests(state, respond_by_us);
CREATE TABLE IF NOT EXISTS inbox_cameras (
    request_id TEXT NOT NULL REFERENCES inbox_requests(request_id), position INTEGER NOT NULL,
    registration_id TEXT NOT NULL, name TEXT NOT NULL, distance_m REAL NOT NULL,
    state TEXT NOT NULL, detail TEXT, progress REAL, PRIMARY KEY (request_id, registration_id)
);
"""
_COLUMNS = (
    "request, envelope, state, received_at, updated_at, approval_nonce, approved_window,"
    " decided_by, error, preview"
)

type CameraChanges = Mapping[str, tuple[CameraState, str | None]]


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _check_decider(decided_by: str, now: datetime) -> None:
    _aware(now)
    if not isinstance(decided_by, str) or not decided_by.strip():
        raise InvalidDecisionError("A decision must say who made it.")


class Inbox:
    """Verified footage requests and what the resident (or a rule) decided about them."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        create_tables(db_path, _SCHEMA)
        add_columns(db_path, "inbox_cameras", {"progress": "REAL"})  # before numeric progress

    def add(
        self,
        request: FootageRequest,
        envelope: SignedEnvelope,
        cameras: Sequence[tuple[str, str, float]],
        now: datetime,
    ) -> InboxRequest:
        """File a verified request as pending; cameras are (registration_id, name, distance_m)."""
        _aware(now)
        ids = [camera[0] for camera in cameras]
        if envelope.body.get("request_id") != request.request_id:
            raise InboxError("The envelope does not carry this request.")
        if not ids or len(set(ids)) != len(ids):
            raise InboxError("A request needs at least one camera, each listed once.")
        if not set(ids) <= set(request.registration_ids):
            raise InboxError("Only cameras the request names can be added to it.")
        stamp = format_time(now)
        with transaction(self._db_path) as db:
            if db.execute(
                "SELECT 1 FROM inbox_requests WHERE request_id = ?", (request.request_id,)
            ).fetchone():
                raise InboxError(f"Request {request.request_id} is already in the inbox.")
            db.execute(
                f"INSERT INTO inbox_requests (request_id, received_us, respond_by_us, {_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
                (
                    request.request_id, _us(now), _us(request.respond_by),
                    json.dumps(request.to_json()), json.dumps(envelope.to_json()),
                    RequestState.PENDING.value, stamp, stamp, secrets.token_urlsafe(32),
                    PreviewStatus.NONE.value,
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO inbox_cameras (request_id, position, registration_id, name,"
                " distance_m, state, detail) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [
                    (request.request_id, position, rid, name, float(distance),
                     CameraState.PENDING.value)
                    for position, (rid, name, distance) in enumerate(cameras)
                ],
            )  # fmt: skip
            return self._load(db, request.request_id)

    def get(self, request_id: str) -> InboxRequest:
        """The request with this id; RequestNotFoundError if none."""
        with transaction(self._db_path) as db:
            return self._load(db, request_id)

    def list(self, state: RequestState | None = None) -> builtins.list[InboxRequest]:
        """All requests, or those in one state, newest first."""
        query = "SELECT request_id FROM inbox_requests"
        args: tuple[str, ...] = ()
        if state is not None:
            query, args = query + " WHERE state = ?", (RequestState(state).value,)
        with transaction(self._db_path) as db:
            ids = db.execute(query + " ORDER BY received_us DESC, rowid DESC", args).fetchall()
            return [self._load(db, rid) for (rid,) in ids]

    def pending_count(self) -> int:
        """How many requests wait for the resident."""
        with transaction(self._db_path) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM inbox_requests WHERE state = ?", (RequestState.PENDING.value,)
            ).fetchone()
        return int(row[0])

    def approve(
        self,
        request_id: str,
        *,
        cameras: Sequence[str] | None,
        window: TimeWindow | None,
        decided_by: str,
        now: datetime,
    ) -> InboxRequest:
        """Approve some or all pending cameras (the rest are declined), optionally narrower."""
        _check_decider(decided_by, now)
        with transaction(self._db_path) as db:
            item = self._pending(db, request_id, "approved")
            if now >= item.request.respond_by:
                raise InvalidTransitionError(
                    f"Request {request_id} was due by {format_time(item.request.respond_by)};"
                    " it can no longer be approved."
                )
            chosen = _choose(item, cameras)
            if window is not None and not item.request.window.contains(window):
                raise InvalidDecisionError(
                    "The approved window must lie inside the requested window"
                    f" ({format_time(item.request.window.start)} to"
                    f" {format_time(item.request.window.end)})."
                )
            changes = {
                c.registration_id: (
                    CameraState.APPROVED if c.registration_id in chosen else CameraState.DECLINED,
                    None,
                )
                for c in item.cameras
                if c.state is CameraState.PENDING
            }
            approved = window or item.request.window
            return self._change(db, item, now, changes, decided_by=decided_by, window=approved)

    def decline(
        self, request_id: str, *, cameras: Sequence[str] | None, decided_by: str, now: datetime
    ) -> InboxRequest:
        """Decline some or all pending cameras; the request stays pending while any is left."""
        _check_decider(decided_by, now)
        with transaction(self._db_path) as db:
            item = self._pending(db, request_id, "declined")
            chosen = _choose(item, cameras)
            changes = {rid: (CameraState.DECLINED, None) for rid in chosen}
            return self._change(db, item, now, changes, decided_by=decided_by)

    def expire_due(self, now: datetime) -> builtins.list[InboxRequest]:
        """Move pending requests past their respond-by time to EXPIRED; returns them."""
        _aware(now)
        with transaction(self._db_path) as db:
            due = db.execute(
                "SELECT request_id FROM inbox_requests WHERE state = ? AND respond_by_us <= ?"
                " ORDER BY received_us",
                (RequestState.PENDING.value, _us(now)),
            ).fetchall()
            expired = []
            for (rid,) in due:
                item = self._load(db, rid)
                changes = {
                    c.registration_id: (
                        CameraState.DECLINED,
                        "no answer before the respond-by time",
                    )
                    for c in item.cameras
                    if c.state is CameraState.PENDING
                }
                expired.append(
                    self._change(
                        db, item, now, changes, decided_by="expired", state=RequestState.EXPIRED
                    )
                )
            return expired

    def set_camera_state(
        self,
        request_id: str,
        registration_id: str,
        state: CameraState,
        detail: str | None,
        now: datetime,
        progress: float | None = None,
    ) -> InboxRequest:
        """Record upload progress for an approved camera (uploading, delivered, failed, retry);
        `progress` (0..1) counts only while it is being answered."""
        _aware(now)
        state = CameraState(state)
        with transaction(self._db_path) as db:
            item = self._load(db, request_id)
            current = item.camera(registration_id).state
            if state not in CAMERA_TRANSITIONS.get(current, frozenset()):
                raise InvalidTransitionError(
                    f"Camera {registration_id} is {current.value}; it cannot become {state.value}."
                )
            return self._change(db, item, now, {registration_id: (state, detail)},
                                progress=progress)

    def set_preview(self, request_id: str, status: PreviewStatus, now: datetime) -> InboxRequest:
        """Record how far the redacted preview has got."""
        _aware(now)
        with transaction(self._db_path) as db:
            item = self._load(db, request_id)
            return self._change(db, item, now, {}, preview=PreviewStatus(status))

    def set_error(self, request_id: str, error: str, now: datetime) -> InboxRequest:
        """Show a problem on the request (an empty string clears it)."""
        _aware(now)
        with transaction(self._db_path) as db:
            item = self._load(db, request_id)
            return self._change(db, item, now, {}, error=error)

    def _pending(self, db: sqlite3.Connection, request_id: str, verb: str) -> InboxRequest:
        item = self._load(db, request_id)
        if item.state is not RequestState.PENDING:
            raise InvalidTransitionError(
                f"Request {request_id} is already {item.state.value}; only a pending request"
                f" can be {verb}."
            )
        return item

    def _change(
        self,
        db: sqlite3.Connection,
        item: InboxRequest,
        now: datetime,
        cameras: CameraChanges,
        *,
        decided_by: str | None = None,
        window: TimeWindow | None = None,
        state: RequestState | None = None,
        preview: PreviewStatus | None = None,
        error: str | None = None,
        progress: float | None = None,
    ) -> InboxRequest:
        rid = item.request.request_id
        for registration_id, (camera_state, detail) in cameras.items():
            db.execute(
                "UPDATE inbox_cameras SET state = ?, detail = ?, progress = ?"
                " WHERE request_id = ? AND registration_id = ?",
                (camera_state.value, detail, stored_progress(camera_state, progress), rid,
                 registration_id),
            )
        if state is None:
            merged = {c.registration_id: c.state for c in item.cameras}
            merged.update({k: v[0] for k, v in cameras.items()})
            state = derive_state(merged.values()) if cameras else item.state
        if state is not RequestState.PENDING and item.state is RequestState.PENDING:
            decided_by = decided_by or item.decided_by
        else:
            decided_by = item.decided_by
        approved = window or item.approved_window
        db.execute(
            "UPDATE inbox_requests SET state = ?, updated_at = ?, decided_by = ?,"
            " approved_window = ?, preview = ?, error = ? WHERE request_id = ?",
            (
                state.value, format_time(now), decided_by,
                json.dumps(approved.to_json()) if approved else None,
                (preview or item.preview).value, item.error if error is None else (error or None),
                rid,
            ),
        )  # fmt: skip
        return self._load(db, rid)

    def _load(self, db: sqlite3.Connection, request_id: str) -> InboxRequest:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM inbox_requests WHERE request_id = ?",  # noqa: S608
            (request_id,),
        ).fetchone()
        if row is None:
            raise RequestNotFoundError(f"No footage request {request_id!r} in the inbox.")
        cameras = db.execute(
            "SELECT registration_id, name, distance_m, state, detail, progress FROM inbox_cameras"
            " WHERE request_id = ? ORDER BY position",
            (request_id,),
        ).fetchall()
        return _from_row(row, cameras)


def _from_row(row: tuple[Any, ...], cameras: builtins.list[tuple[Any, ...]]) -> InboxRequest:
    request, envelope, state, received, updated, nonce, window, decided_by, error, preview = row
    return InboxRequest(
        request=FootageRequest.from_json(json.loads(request)),
        envelope=SignedEnvelope.from_json(json.loads(envelope)),
        state=RequestState(state),
        received_at=parse_time(received),
        updated_at=parse_time(updated),
        approval_nonce=nonce,
        cameras=tuple(
            InboxCamera(rid, name, distance, CameraState(cam_state), detail, progress)
            for rid, name, distance, cam_state, detail, progress in cameras
        ),
        approved_window=TimeWindow.from_json(json.loads(window)) if window else None,
        decided_by=decided_by,
        error=error,
        preview=PreviewStatus(preview),
    )


def _choose(item: InboxRequest, cameras: Sequence[str] | None) -> frozenset[str]:
    """The cameras a decision covers: all still pending, or a checked non-empty subset of them."""
    pending = {c.registration_id for c in item.cameras if c.state is CameraState.PENDING}
    if cameras is None:
        return frozenset(pending)
    if isinstance(cameras, str) or not cameras or len(set(cameras)) != len(cameras):
        raise InvalidDecisionError("Choose at least one camera, each listed once.")
    for registration_id in cameras:
        camera = item.camera(registration_id)
        if camera.state is not CameraState.PENDING:
            raise InvalidDecisionError(
                f"Camera {camera.name!r} was already {camera.state.value} for this request."
            )
    return frozenset(cameras)
