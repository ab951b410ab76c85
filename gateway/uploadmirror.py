"""Mirroring the upload queue's progress into the inbox and the audit log, per part."""

from __future__ import annotations

import logging
from collections.abc import Callable

from protocol.timeutil import utcnow

from .audit import AuditKind, AuditLog
from .inbox import CameraState, Inbox, InboxError, InboxRequest
from .preparation import PlannedPart
from .uploads import UploadQueue, UploadState, UploadStatus

_LOGGER = logging.getLogger(__name__)
WORKING = (CameraState.APPROVED, CameraState.UPLOADING)


class UploadMirror:
    """A camera is delivered once every part of its answer is acknowledged by the city."""

    def __init__(self, *, inbox: Inbox, audit: AuditLog, uploads: UploadQueue,
                 on_change: Callable[[InboxRequest], None]) -> None:
        self._inbox, self._audit, self._uploads = inbox, audit, uploads
        self._on_change = on_change
        self._progress: dict[str, int] = {}  # the last percentage shown, per upload
        self._stalled: dict[str, int] = {}  # bytes sent when an attempt failed, per upload

    def queued(self, request_id: str, registration_id: str) -> list[UploadStatus]:
        """The camera's parts in the upload queue, whatever their state."""
        return [s for s in self._uploads.status(request_id)
                if s.registration_id == registration_id]

    async def on_upload_change(self, status: UploadStatus) -> None:
        """UploadQueue's on_change: mirror progress and outcome into the inbox and the log."""
        rid, reg = status.request_id, status.registration_id
        which = which_part(status)
        part = {"part": status.part, "parts": status.parts}
        if status.state in (UploadState.DELIVERED, UploadState.FAILED):
            self._progress.pop(status.upload_key, None)
            self._stalled.pop(status.upload_key, None)
        try:
            if status.state is UploadState.DELIVERED:
                self._audit.append(AuditKind.UPLOAD_DONE, rid, {"registration_id": reg, **part})
                self._audit.append(AuditKind.UPLOAD_ACKNOWLEDGED, rid, {
                    "registration_id": reg, **part,
                    "manifest_sha256": (status.acknowledgement or {}).get("body", {}).get(
                        "manifest_sha256"),
                })
                delivered = {status.part} | {s.part for s in self.queued(rid, reg)
                                             if s.state is UploadState.DELIVERED}
                if len(delivered) == status.parts:  # the camera's answer is complete
                    self._on_change(self._inbox.set_camera_state(
                        rid, reg, CameraState.DELIVERED, None, utcnow()))
                else:
                    self.set_camera(rid, reg, f"{len(delivered)} of {status.parts} parts "
                                               "delivered")
            elif status.state is UploadState.FAILED:
                error = status.error or "the upload failed"
                self._audit.append(AuditKind.UPLOAD_FAILED, rid,
                                   {"registration_id": reg, "error": error[:300], **part})
                self.fail(rid, reg, error if status.parts == 1 else f"{which}: {error}")
            elif status.state is UploadState.UPLOADING and status.error:
                # The queue keeps trying, with backoff, until the city answers: say why it
                # waits, and keep saying so until the offset moves (not at each new attempt).
                self._stalled[status.upload_key] = status.bytes_sent
                error = status.error if status.parts == 1 else f"{which}: {status.error}"
                self.set_camera(rid, reg, f"{error} Trying again.")
            elif status.state is UploadState.UPLOADING and status.total_bytes:
                stalled = self._stalled.get(status.upload_key)
                if stalled is not None and status.bytes_sent != stalled:
                    del self._stalled[status.upload_key]
                    self._progress.pop(status.upload_key, None)  # show progress at once
                percent = int(100 * status.bytes_sent / status.total_bytes)
                if status.upload_key not in self._stalled and (
                    self._progress.get(status.upload_key, -10) + 10 <= percent
                ):
                    self._progress[status.upload_key] = percent
                    self.set_camera(rid, reg, f"uploading {which} ({percent} %)"
                                     if status.parts > 1 else f"uploading ({percent} %)")
        except InboxError as err:
            _LOGGER.error("upload status not recorded: %s", err)

    def set_camera(self, request_id: str, registration_id: str, detail: str) -> None:
        """Show progress on a camera still at work (a failed one keeps its reason)."""
        camera = self._inbox.get(request_id).camera(registration_id)
        if camera.state not in WORKING or camera.detail == detail:
            return
        self._on_change(self._inbox.set_camera_state(
            request_id, registration_id, CameraState.UPLOADING, detail, utcnow(),
            progress=answer_progress(self.queued(request_id, registration_id))))

    def fail(self, request_id: str, registration_id: str, detail: str) -> None:
        _LOGGER.warning("a camera's clip failed: %s", detail)
        self._on_change(self._inbox.set_camera_state(
            request_id, registration_id, CameraState.FAILED, detail, utcnow()))


def answer_progress(parts: list[UploadStatus]) -> float:
    """Bytes the city acknowledged over all of a camera's parts, 0..1; 0 until every part is
    sealed and queued, as only then is the answer's size known."""
    if not parts or len(parts) < parts[0].parts:
        return 0.0
    total = sum(p.total_bytes for p in parts)
    acknowledged = sum(p.total_bytes if p.state is UploadState.DELIVERED else p.bytes_sent
                       for p in parts)
    return min(1.0, acknowledged / total) if total > 0 else 0.0


def which_part(part: PlannedPart | UploadStatus) -> str:
    """ "part 2 of 3", or "the footage" for a single-part answer, for progress details."""
    return "the footage" if part.parts == 1 else f"part {part.part} of {part.parts}"
