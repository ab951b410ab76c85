"""SQLite (WAL) storage for the city: gateways, enrollment codes, cameras, requests, replies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.canonical import b64decode
from protocol.timeutil import format_time

from .camera_store import CameraStore
from .errors import ConflictError
from .records import IssuedRequest


class CityStore(CameraStore):
    """All city state in one SQLite file; the delivery engineer's `uploads` table shares it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._keys: dict[str, Ed25519PublicKey] = {}

    # -- enrollment ---------------------------------------------------------------------

    def add_enrollment_code(
        self, code_hash: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self._db.execute(
            "INSERT INTO enrollment_codes (code_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (code_hash, format_time(created_at), format_time(expires_at)),
        )

    def redeem_code(self, code_hash: str, now: datetime, device_key: str, label: str) -> str | None:
        """Use a valid code once and enroll the device; None when the code is not usable."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT expires_at FROM enrollment_codes WHERE code_hash = ? AND used_at IS NULL",
                (code_hash,),
            ).fetchone()
            if row is None or row[0] <= format_time(now):
                return None
            existing = db.execute(
                "SELECT gateway_id FROM gateways WHERE device_key = ?", (device_key,)
            ).fetchone()
            if existing is not None:
                raise ConflictError("this device key is already enrolled with the city")
            gateway_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO gateways (gateway_id, device_key, label, enrolled_at) "
                "VALUES (?, ?, ?, ?)",
                (gateway_id, device_key, label, format_time(now)),
            )
            db.execute(
                "UPDATE enrollment_codes SET used_at = ?, gateway_id = ? WHERE code_hash = ?",
                (format_time(now), gateway_id, code_hash),
            )
        return gateway_id

    def gateway_key(self, gateway_id: str) -> Ed25519PublicKey | None:
        """The enrolled device key of a gateway, or None if it is not enrolled."""
        cached = self._keys.get(gateway_id)
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT device_key FROM gateways WHERE gateway_id = ?", (gateway_id,)
        ).fetchone()
        if row is None:
            return None
        key = Ed25519PublicKey.from_public_bytes(b64decode(row[0], "device_key"))
        self._keys[gateway_id] = key
        return key

    # -- footage requests ---------------------------------------------------------------

    def add_requests(self, requests: Iterable[IssuedRequest]) -> None:
        """Store a batch of issued requests atomically (one per gateway)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO footage_requests (request_id, gateway_id, case_number, legal_basis, "
                "incident_type, registration_ids, envelope, issued_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.request_id,
                        r.gateway_id,
                        r.case_number,
                        r.legal_basis,
                        r.incident_type,
                        json.dumps(list(r.registration_ids)),
                        json.dumps(r.envelope),
                        format_time(r.issued_at),
                    )
                    for r in requests
                ],
            )

    def feed(
        self, gateway_id: str, cursor: int, limit: int = 100
    ) -> list[tuple[int, dict[str, Any]]]:
        """A gateway's requests with a sequence number above `cursor`, oldest first."""
        rows = self._db.execute(
            "SELECT seq, envelope FROM footage_requests WHERE gateway_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (gateway_id, cursor, limit),
        ).fetchall()
        return [(int(seq), json.loads(envelope)) for seq, envelope in rows]

    def request_target(self, request_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The gateway and registration ids a request was sent for."""
        row = self._db.execute(
            "SELECT gateway_id, registration_ids FROM footage_requests WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else (row[0], tuple(json.loads(row[1])))

    def add_decline_reply(
        self,
        request_id: str,
        gateway_id: str,
        registration_ids: tuple[str, ...],
        reply: str,
        sent_at: datetime,
        received_at: datetime,
        envelope: dict[str, Any],
    ) -> bool:
        """Record a resident's decline reply; False if one was already recorded."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO decline_replies (request_id, gateway_id, registration_ids, "
            "reply, sent_at, received_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                gateway_id,
                json.dumps(list(registration_ids)),
                reply,
                format_time(sent_at),
                format_time(received_at),
                json.dumps(envelope),
            ),
        )
        return cursor.rowcount == 1

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only aggregate queries for the transparency figures."""
        return list(self._db.execute(sql, params).fetchall())
