"""The inbox's values (pure): request, camera and preview states, state derivation, API JSON.

The SQLite-backed state machine that moves requests between these states is gateway/inbox.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from protocol.messages import FootageRequest
from protocol.signing import SignedEnvelope
from protocol.timeutil import TimeWindow, format_time


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    FAILED = "failed"


class CameraState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    FAILED = "failed"


class PreviewStatus(StrEnum):
    NONE = "none"
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"


# Where the upload pipeline may move an approved camera; PENDING and DECLINED are left only
# through approve/decline, and a camera never returns to them.
_APPROVED, _UPLOADING, _DELIVERED, _FAILED = (
    CameraState.APPROVED,
    CameraState.UPLOADING,
    CameraState.DELIVERED,
    CameraState.FAILED,
)
CAMERA_TRANSITIONS: Mapping[CameraState, frozenset[CameraState]] = {
    _APPROVED: frozenset({_UPLOADING, _DELIVERED, _FAILED}),
    _UPLOADING: frozenset({_UPLOADING, _DELIVERED, _FAILED}),
    _FAILED: frozenset({_APPROVED, _UPLOADING, _FAILED}),
    _DELIVERED: frozenset({_DELIVERED}),
}


class InboxError(Exception):
    """The inbox refused a change; nothing was changed."""


class RequestNotFoundError(InboxError):
    """No request with this id is in the inbox."""


class InvalidTransitionError(InboxError):
    """The request or camera is not in a state that allows this change."""


class InvalidDecisionError(InboxError):
    """The decision names cameras or a window the request does not allow."""


@dataclass(frozen=True)
class InboxCamera:
    registration_id: str
    name: str
    distance_m: float
    state: CameraState
    detail: str | None
    progress: float | None = None  # 0..1 while answered, 1.0 delivered, None otherwise


@dataclass(frozen=True)
class InboxRequest:
    """A verified request as the resident sees it, with its decision and progress."""

    request: FootageRequest
    envelope: SignedEnvelope
    state: RequestState
    received_at: datetime
    updated_at: datetime
    approval_nonce: str
    cameras: tuple[InboxCamera, ...]
    approved_window: TimeWindow | None
    decided_by: str | None
    error: str | None
    preview: PreviewStatus

    def camera(self, registration_id: str) -> InboxCamera:
        """The camera with this registration id; InvalidDecisionError if not in the request."""
        for camera in self.cameras:
            if camera.registration_id == registration_id:
                return camera
        raise InvalidDecisionError(f"Camera {registration_id!r} is not part of this request.")

    def to_api_json(self) -> dict[str, Any]:
        """The "Request" object of the local API (docs/architecture.md)."""
        r = self.request
        minutes = r.window.duration.total_seconds() / 60
        return {
            "id": r.request_id,
            "state": self.state.value,
            "issued_at": format_time(r.issued_at),
            "received_at": format_time(self.received_at),
            "updated_at": format_time(self.updated_at),
            "approval_nonce": self.approval_nonce,
            "agency": {"name": r.agency.name, "id": r.agency.id},
            "officer": {"name": r.officer.name, "badge": r.officer.badge,
                        "email": r.officer.email, "phone": r.officer.phone},
            "case_number": r.case_number,
            "incident": {"type": r.incident.type.value, "description": r.incident.description,
                         "point": {"lat": r.incident.point.lat, "lon": r.incident.point.lon},
                         "radius_m": r.incident.radius_m},
            "window": r.window.to_json(),
            "window_minutes": int(minutes) if minutes.is_integer() else round(minutes, 2),
            "respond_by": format_time(r.respond_by),
            "legal_basis": r.legal_basis.value,
            "disclosures": r.disclosures.to_json(),
            "cameras": [{"registration_id": c.registration_id, "name": c.name,
                         "distance_m": c.distance_m, "state": c.state.value, "detail": c.detail,
                         "progress": c.progress}
                        for c in self.cameras],
            "preview": {"status": self.preview.value},
            "decided_by": self.decided_by,
            "error": self.error,
        }  # fmt: skip


def stored_progress(state: CameraState, progress: float | None) -> float | None:
    """What a camera in `state` shows as progress: `progress` (0 if unknown) while it is being
    answered, 1.0 once delivered, None when pending, declined or failed."""
    if state is CameraState.DELIVERED:
        return 1.0
    if state not in (CameraState.APPROVED, CameraState.UPLOADING):
        return None
    if progress is None:
        return 0.0
    if isinstance(progress, bool) or not isinstance(progress, (int, float)) \
            or not 0.0 <= progress <= 1.0:
        raise InboxError(f"Progress must be a number from 0 to 1, not {progress!r}.")
    return float(progress)


def derive_state(states: Iterable[CameraState]) -> RequestState:
    """A request's state from its cameras' states (EXPIRED is never derived, only set)."""
    all_states = list(states)
    if not all_states:
        raise ValueError("a request has at least one camera")
    if CameraState.PENDING in all_states:
        return RequestState.PENDING
    active = [s for s in all_states if s is not CameraState.DECLINED]
    if not active:
        return RequestState.DECLINED
    if all(s is CameraState.DELIVERED for s in active):
        return RequestState.DELIVERED
    if CameraState.UPLOADING in active:
        return RequestState.UPLOADING
    if CameraState.APPROVED not in active:
        return RequestState.FAILED  # something failed and nothing is still working
    if all(s is CameraState.APPROVED for s in active):
        return RequestState.APPROVED
    return RequestState.UPLOADING  # some cameras done or failed, others still to go
