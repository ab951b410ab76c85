"""The inbox's two tables: reading and writing rows (the rules are in gateway/inbox.py)."""

from __future__ import annotations

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

from .database import add_columns, create_tables
from .requeststate import (
    CameraState,
    InboxCamera,
    InboxError,
    InboxRequest,
    PreviewStatus,
    RequestNotFoundError,
    RequestState,
    stored_progress,
)

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


def create(db_path: Path) -> None:
    """Create the tables, or add what a database an older gateway made lacks."""
    create_tables(db_path, _SCHEMA)
    add_columns(db_path, "inbox_cameras", {"progress": "REAL"})  # before numeric progress


def insert(
    db: sqlite3.Connection,
    request: FootageRequest,
    envelope: SignedEnvelope,
    cameras: Sequence[tuple[str, str, float]],
    now: datetime,
) -> None:
    """File a request as pending with a fresh approval nonce; InboxError if it is filed already."""
    if db.execute(
        "SELECT 1 FROM inbox_requests WHERE request_id = ?", (request.request_id,)
    ).fetchone():
        raise InboxError(f"Request {request.request_id} is already in the inbox.")
    stamp = format_time(now)
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
            (request.request_id, position, rid, name, float(distance), CameraState.PENDING.value)
            for position, (rid, name, distance) in enumerate(cameras)
        ],
    )


def request_ids(db: sqlite3.Connection, state: RequestState | None) -> list[str]:
    """All requests' ids, or those in one state, newest first."""
    query = "SELECT request_id FROM inbox_requests"
    args: tuple[str, ...] = ()
    if state is not None:
        query, args = query + " WHERE state = ?", (state.value,)
    rows = db.execute(query + " ORDER BY received_us DESC, rowid DESC", args).fetchall()
    return [rid for (rid,) in rows]


def count(db: sqlite3.Connection, state: RequestState) -> int:
    """How many requests are in this state."""
    row = db.execute("SELECT COUNT(*) FROM inbox_requests WHERE state = ?", (state.value,))
    return int(row.fetchone()[0])


def due_ids(db: sqlite3.Connection, now: datetime) -> list[str]:
    """Pending requests whose respond-by time has come, oldest first."""
    rows = db.execute(
        "SELECT request_id FROM inbox_requests WHERE state = ? AND respond_by_us <= ?"
        " ORDER BY received_us",
        (RequestState.PENDING.value, _us(now)),
    ).fetchall()
    return [rid for (rid,) in rows]


def write_cameras(
    db: sqlite3.Connection, request_id: str, cameras: CameraChanges, progress: float | None
) -> None:
    """Store the cameras' new states and details (`progress` is kept only while uploading)."""
    for registration_id, (state, detail) in cameras.items():
        db.execute(
            "UPDATE inbox_cameras SET state = ?, detail = ?, progress = ?"
            " WHERE request_id = ? AND registration_id = ?",
            (state.value, detail, stored_progress(state, progress), request_id, registration_id),
        )


def write_request(
    db: sqlite3.Connection,
    request_id: str,
    now: datetime,
    *,
    state: RequestState,
    decided_by: str | None,
    window: TimeWindow | None,
    preview: PreviewStatus,
    error: str | None,
) -> None:
    """Store the request's new state, decision and outcome."""
    db.execute(
        "UPDATE inbox_requests SET state = ?, updated_at = ?, decided_by = ?,"
        " approved_window = ?, preview = ?, error = ? WHERE request_id = ?",
        (
            state.value, format_time(now), decided_by,
            json.dumps(window.to_json()) if window else None, preview.value, error, request_id,
        ),
    )  # fmt: skip


def load(db: sqlite3.Connection, request_id: str) -> InboxRequest:
    """The request with this id; RequestNotFoundError if none."""
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


def _from_row(row: tuple[Any, ...], cameras: list[tuple[Any, ...]]) -> InboxRequest:
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


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)
