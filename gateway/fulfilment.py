"""From approval to queued uploads: one redacted, sealed part per recording; previews; retry.

Listing, fetching and redacting recordings is gateway/preparation.py.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.signing import decode_x25519_public_key
from protocol.timeutil import format_time, utcnow

from .audit import AuditKind, AuditLog
from .config import DEFAULT_TIME_LIMIT, TimeLimit
from .inbox import (
    CameraState,
    Inbox,
    InboxRequest,
    InvalidDecisionError,
    InvalidTransitionError,
    PreviewStatus,
    RequestState,
)
from .packaging import PackagingError, seal_clip
from .preparation import (
    ClipPreparation,
    FulfilmentFailed,
    PreparedClip,
    SourceLookup,
    folder_name,
)
from .redaction.profiles import BUNDLED, Models
from .store import GatewayStore
from .uploadmirror import WORKING as _WORKING
from .uploadmirror import UploadMirror, which_part
from .uploads import UploadQueue, UploadStatus

__all__ = ["Fulfilment", "FulfilmentFailed", "JobKind", "folder_name", "preview_file"]

_LOGGER = logging.getLogger(__name__)


class JobKind(StrEnum):
    PREVIEW = "preview"
    FULFIL = "fulfil"


class Fulfilment:
    """One worker: previews for pending requests, clips for approved cameras (in order)."""

    def __init__(
        self, *, work_dir: Path, spool_dir: Path, store: GatewayStore, inbox: Inbox,
        audit: AuditLog, uploads: UploadQueue, sources: SourceLookup,
        device_key: Ed25519PrivateKey, executor: Executor, profile: str,
        on_change: Callable[[InboxRequest], None], models: Models = BUNDLED,
        time_limit: TimeLimit = DEFAULT_TIME_LIMIT,
    ) -> None:
        self._work = work_dir
        self._spool = spool_dir
        self._store = store
        self._inbox = inbox
        self._audit = audit
        self._uploads = uploads
        self._device_key = device_key
        self._on_change = on_change
        self._prep = ClipPreparation(work_dir=work_dir, audit=audit, sources=sources,
                                     executor=executor, profile=profile, models=models,
                                     time_limit=time_limit)
        self._jobs: asyncio.Queue[tuple[JobKind, str]] = asyncio.Queue()
        self._mirror = UploadMirror(inbox=inbox, audit=audit, uploads=uploads,
                                    on_change=on_change)

    # scheduling ------------------------------------------------------------------------
    def schedule(self, kind: JobKind, request_id: str) -> None:
        self._jobs.put_nowait((kind, request_id))

    def resume(self) -> int:
        """Re-schedule everything a restart interrupted; returns how many jobs were queued."""
        count = 0
        for item in self._inbox.list():
            rid = item.request.request_id
            if item.state is RequestState.PENDING and item.preview in (
                PreviewStatus.NONE, PreviewStatus.PREPARING
            ):
                self.schedule(JobKind.PREVIEW, rid)
                count += 1
            elif any(c.state in _WORKING and not self._all_queued(rid, c.registration_id)
                     for c in item.cameras):
                self.schedule(JobKind.FULFIL, rid)
                count += 1
        return count

    def discard(self, request_id: str) -> None:
        """Delete the work files of a request that will not (or no longer needs to) upload."""
        shutil.rmtree(self._work / folder_name(request_id), ignore_errors=True)

    async def retry(self, request_id: str, cameras: Sequence[str] | None) -> InboxRequest:
        """Run failed cameras again from the first step that did not complete.

        Parts already sealed are not sealed again; failed uploads resume under their key.
        """
        item = self._inbox.get(request_id)
        chosen = list(cameras) if cameras else [
            c.registration_id for c in item.cameras if c.state is CameraState.FAILED]
        if not chosen:
            raise InvalidTransitionError(
                f"Request {request_id} is {item.state.value}; it has no failed camera to retry.")
        if len(set(chosen)) != len(chosen):
            raise InvalidDecisionError("Name each camera to retry once.")
        for registration_id in chosen:
            camera = item.camera(registration_id)
            if camera.state is not CameraState.FAILED:
                raise InvalidTransitionError(
                    f"Camera {camera.name!r} is {camera.state.value}; only a failed camera "
                    "can be retried.")
        requeued = 0
        for registration_id in chosen:
            item = self._inbox.set_camera_state(request_id, registration_id,
                                                CameraState.APPROVED, "retrying", utcnow())
            requeued += await self._uploads.requeue_failed(request_id, registration_id)
        self._audit.append(AuditKind.REQUEST_DECIDED, request_id, {
            "action": "retry", "decided_by": "resident", "cameras": chosen,
            "uploads_resumed": requeued,
        })
        self._change(item)
        self.schedule(JobKind.FULFIL, request_id)
        return item

    async def run(self, stop: asyncio.Event) -> None:
        """Process jobs until `stop` is set."""
        while not stop.is_set():
            getter = asyncio.ensure_future(self._jobs.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            stopper.cancel()
            kind, request_id = getter.result()
            try:
                if kind is JobKind.PREVIEW:
                    await self._preview(request_id)
                else:
                    await self._fulfil(request_id)
            except Exception as err:  # one request's failure must not stop the others
                # Type only at INFO and above: exception texts of file and video errors name
                # paths, which the log must not carry.
                _LOGGER.error("%s job failed (%s)", kind.value, type(err).__name__)
                _LOGGER.debug("%s job failure", kind.value, exc_info=True)

    # previews --------------------------------------------------------------------------
    async def _preview(self, request_id: str) -> None:
        """The contact sheet of the first camera that has footage: its first part's frames."""
        item = self._inbox.get(request_id)
        if item.state is not RequestState.PENDING or item.preview is PreviewStatus.READY:
            return
        self._change(self._inbox.set_preview(request_id, PreviewStatus.PREPARING, utcnow()))
        for cam in item.cameras:
            camera = self._store.camera_by_registration(cam.registration_id)
            if camera is None:
                continue
            try:
                plan = await self._prep.plan(request_id, camera, item.request.window)
                prepared = await self._prep.prepare(request_id, camera, plan[0])
            except FulfilmentFailed as err:
                _LOGGER.info("no preview from camera %s: %s", camera.name, err)
                continue
            sheet = prepared.folder / "preview.png"
            if sheet.exists():
                shutil.copyfile(sheet, self.preview_path(request_id))
                self._change(self._inbox.set_preview(request_id, PreviewStatus.READY, utcnow()))
                return
        self._change(self._inbox.set_preview(request_id, PreviewStatus.FAILED, utcnow()))

    def preview_path(self, request_id: str) -> Path:
        return preview_file(self._work, request_id)

    # fulfilment ------------------------------------------------------------------------
    async def _fulfil(self, request_id: str) -> None:
        item = self._inbox.get(request_id)
        if item.decided_by is None:
            return  # nothing leaves without an approval, by the resident or a rule
        for cam in item.cameras:
            if cam.state in _WORKING and not self._all_queued(request_id, cam.registration_id):
                await self._fulfil_camera(item, cam.registration_id)

    async def _fulfil_camera(self, item: InboxRequest, registration_id: str) -> None:
        """Redact, seal and queue each part not yet queued, in time order (idempotent)."""
        request_id = item.request.request_id
        window = item.approved_window or item.request.window
        queued = self._queued(request_id, registration_id)
        camera = self._store.camera_by_registration(registration_id)
        try:
            if camera is None:
                raise FulfilmentFailed("this camera is no longer registered on the gateway")
            self._set_camera(request_id, registration_id, "listing the camera's recordings")
            plan = await self._prep.plan(request_id, camera, window)
            if any(s.parts != len(plan) for s in queued):
                raise FulfilmentFailed(
                    f"the camera's recordings in the window changed since parts were sealed "
                    f"(now {len(plan)}); ask the city to send a new request")
            done = {s.part for s in queued}
            for planned in (p for p in plan if p.part not in done):
                self._set_camera(request_id, registration_id,
                                 f"fetching and redacting {which_part(planned)}")
                prepared = await self._prep.prepare(request_id, camera, planned)
                self._set_camera(request_id, registration_id, f"sealing {which_part(planned)}")
                await self._seal_and_queue(item, registration_id, prepared)
            self._set_camera(request_id, registration_id, "waiting to upload" if len(plan) == 1
                             else f"waiting to upload {len(plan)} parts")
            shutil.rmtree(self._prep.camera_folder(request_id, camera), ignore_errors=True)
        except FulfilmentFailed as err:
            self._fail(request_id, registration_id, str(err))
        except OSError as err:
            full = err.errno == errno.ENOSPC
            self._fail(request_id, registration_id,
                       "the gateway's disk is full" if full else
                       "the clip could not be written on the gateway")

    async def _seal_and_queue(
        self, item: InboxRequest, registration_id: str, prepared: PreparedClip
    ) -> None:
        request_id = item.request.request_id
        city = self._store.pinned_city()
        if city is None:
            raise FulfilmentFailed("the gateway is no longer enrolled with a city")
        checkpoint = self._audit.checkpoint().to_json()
        planned = prepared.planned
        recording = planned.recording
        source_meta: dict[str, Any] = {
            **dict(recording.metadata), "source": recording.source,
            "device_id": recording.device_id, "recording_id": recording.recording_id,
            "start": format_time(recording.start), "end": format_time(recording.end),
        }
        try:
            sealed = await asyncio.to_thread(
                seal_clip, redacted=prepared.redacted, spool_dir=self._spool,
                device_key=self._device_key,
                city_encryption_key=decode_x25519_public_key(city.encryption_key),
                gateway_id=city.gateway_id, request_id=request_id,
                registration_id=registration_id, part=planned.part, parts=planned.parts,
                clip=planned.clip, original_sha256=prepared.original_sha256,
                redaction=prepared.report.to_json(), source=source_meta,
                audit_checkpoint=checkpoint,
            )
        except PackagingError as err:
            raise FulfilmentFailed(str(err)) from err
        part = {"part": planned.part, "parts": planned.parts}
        self._audit.append(AuditKind.SEALED, request_id, {
            "registration_id": registration_id, "upload_key": sealed.upload_key,
            "ciphertext_size": sealed.ciphertext_size, "manifest_sha256": sealed.manifest.digest(),
            **part,
        })
        self._uploads.enqueue(sealed)
        self._audit.append(AuditKind.UPLOAD_STARTED, request_id, {
            "registration_id": registration_id, "upload_key": sealed.upload_key, **part,
        })
        shutil.rmtree(prepared.folder, ignore_errors=True)

    def _queued(self, request_id: str, registration_id: str) -> list[UploadStatus]:
        return self._mirror.queued(request_id, registration_id)

    def _all_queued(self, request_id: str, registration_id: str) -> bool:
        """True when every part of the camera's answer is in the upload queue."""
        queued = self._queued(request_id, registration_id)
        return bool(queued) and len({s.part for s in queued}) == queued[0].parts

    # upload progress -------------------------------------------------------------------
    async def on_upload_change(self, status: UploadStatus) -> None:
        """UploadQueue's on_change: mirror progress and outcome into the inbox and the log."""
        await self._mirror.on_upload_change(status)

    def _set_camera(self, request_id: str, registration_id: str, detail: str) -> None:
        self._mirror.set_camera(request_id, registration_id, detail)

    def _fail(self, request_id: str, registration_id: str, detail: str) -> None:
        self._mirror.fail(request_id, registration_id, detail)

    def _change(self, item: InboxRequest) -> None:
        self._on_change(item)


def preview_file(work_dir: Path, request_id: str) -> Path:
    """Where a request's contact sheet is kept (deleted with the request's work files)."""
    return work_dir / folder_name(request_id) / "preview.png"


