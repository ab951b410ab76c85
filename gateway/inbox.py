"""The request inbox: each verified request's state machine, kept in the gateway's database.

A request's state follows from its cameras' states (gateway/requeststate.py), except EXPIRED,
which is set when a pending request passes its respond-by time. Every change is one SQLite
transaction (BEGIN IMMEDIATE) that re-reads the request first, so two racing decisions
cannot both win.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from protocol.messages import FootageRequest
from protocol.signing import SignedEnvelope
from protocol.timeutil import TimeWindow, format_time

from . import inboxrows as rows
from .database import transaction
from .inboxrows import CameraChanges
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
)

__all__ = [
    "CameraState", "Inbox", "InboxCamera", "InboxError", "InboxRequest", "InvalidDecisionError",
    "InvalidTransitionError", "PreviewStatus", "RequestNotFoundError", "RequestState",
]  # fmt: skip


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
        rows.create(db_path)

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
        with transaction(self._db_path) as db:
            rows.insert(db, request, envelope, cameras, now)
            return rows.load(db, request.request_id)

    def get(self, request_id: str) -> InboxRequest:
        """The request with this id; RequestNotFoundError if none."""
        with transaction(self._db_path) as db:
            return rows.load(db, request_id)

    def list(self, state: RequestState | None = None) -> builtins.list[InboxRequest]:
        """All requests, or those in one state, newest first."""
        with transaction(self._db_path) as db:
            ids = rows.request_ids(db, None if state is None else RequestState(state))
            return [rows.load(db, rid) for rid in ids]

    def pending_count(self) -> int:
        """How many requests wait for the resident."""
        with transaction(self._db_path) as db:
            return rows.count(db, RequestState.PENDING)

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
            expired = []
            for rid in rows.due_ids(db, now):
                item = rows.load(db, rid)
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
            item = rows.load(db, request_id)
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
            item = rows.load(db, request_id)
            return self._change(db, item, now, {}, preview=PreviewStatus(status))

    def set_error(self, request_id: str, error: str, now: datetime) -> InboxRequest:
        """Show a problem on the request (an empty string clears it)."""
        _aware(now)
        with transaction(self._db_path) as db:
            item = rows.load(db, request_id)
            return self._change(db, item, now, {}, error=error)

    def _pending(self, db: sqlite3.Connection, request_id: str, verb: str) -> InboxRequest:
        item = rows.load(db, request_id)
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
        rows.write_cameras(db, item.request.request_id, cameras, progress)
        if state is None:
            merged = {c.registration_id: c.state for c in item.cameras}
            merged.update({k: v[0] for k, v in cameras.items()})
            state = derive_state(merged.values()) if cameras else item.state
        if state is not RequestState.PENDING and item.state is RequestState.PENDING:
            decided_by = decided_by or item.decided_by
        else:
            decided_by = item.decided_by
        rows.write_request(
            db,
            item.request.request_id,
            now,
            state=state,
            decided_by=decided_by,
            window=window or item.approved_window,
            preview=preview or item.preview,
            error=item.error if error is None else (error or None),
        )
        return rows.load(db, item.request.request_id)


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
