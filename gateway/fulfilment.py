"""From approval to queued upload: fetch, redact (worker process), seal, enqueue; previews."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import re
import shutil
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.signing import decode_x25519_public_key
from protocol.timeutil import TimeWindow, format_time, utcnow

from .audit import AuditKind, AuditLog
from .inbox import CameraState, Inbox, InboxError, InboxRequest, PreviewStatus, RequestState
from .packaging import PackagingError, seal_clip
from .redaction.pipeline import RedactionError, RedactionJob, RedactionReport, redact
from .sources.base import FootageSource, Recording, SourceError
from .store import CameraRecord, GatewayStore
from .uploads import UploadQueue, UploadState, UploadStatus

_LOGGER = logging.getLogger(__name__)
_WORKING = (CameraState.APPROVED, CameraState.UPLOADING)


class SourceLookup(Protocol):
    def get(self, name: str) -> FootageSource: ...


class JobKind(StrEnum):
    PREVIEW = "preview"
    FULFIL = "fulfil"


@dataclass(frozen=True)
class PreparedClip:
    """A redacted clip in work/, with what the manifest needs to say about where it came from."""

    redacted: Path
    recording: Recording
    clip: TimeWindow
    original_sha256: str
    report: RedactionReport
    note: str | None


class FulfilmentFailed(Exception):
    """A camera's clip cannot be produced; the message is shown to the resident."""


class Fulfilment:
    """One worker: previews for pending requests, clips for approved cameras (in order)."""

    def __init__(
        self, *, work_dir: Path, spool_dir: Path, store: GatewayStore, inbox: Inbox,
        audit: AuditLog, uploads: UploadQueue, sources: SourceLookup,
        device_key: Ed25519PrivateKey, executor: Executor, profile: str,
        on_change: Callable[[InboxRequest], None],
    ) -> None:
        self._work = work_dir
        self._spool = spool_dir
        self._store = store
        self._inbox = inbox
        self._audit = audit
        self._uploads = uploads
        self._sources = sources
        self._device_key = device_key
        self._executor = executor
        self._profile = profile
        self._on_change = on_change
        self._jobs: asyncio.Queue[tuple[JobKind, str]] = asyncio.Queue()
        self._progress: dict[str, int] = {}
        # Redactions done in this run (a preview's clip is reused when the window is approved).
        self._reports: dict[Path, RedactionReport] = {}

    # scheduling ------------------------------------------------------------------------
    def schedule(self, kind: JobKind, request_id: str) -> None:
        self._jobs.put_nowait((kind, request_id))

    def resume(self) -> int:
        """Re-schedule everything a restart interrupted; returns how many jobs were queued."""
        queued = {(s.request_id, s.registration_id) for s in self._uploads.status()}
        count = 0
        for item in self._inbox.list():
            rid = item.request.request_id
            if item.state is RequestState.PENDING and item.preview in (
                PreviewStatus.NONE, PreviewStatus.PREPARING
            ):
                self.schedule(JobKind.PREVIEW, rid)
                count += 1
            elif any(c.state in _WORKING and (rid, c.registration_id) not in queued
                     for c in item.cameras):
                self.schedule(JobKind.FULFIL, rid)
                count += 1
        return count

    def discard(self, request_id: str) -> None:
        """Delete the work files of a request that will not (or no longer needs to) upload."""
        shutil.rmtree(self._work / folder_name(request_id), ignore_errors=True)

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
        item = self._inbox.get(request_id)
        if item.state is not RequestState.PENDING or item.preview is PreviewStatus.READY:
            return
        self._change(self._inbox.set_preview(request_id, PreviewStatus.PREPARING, utcnow()))
        for cam in item.cameras:
            camera = self._store.camera_by_registration(cam.registration_id)
            if camera is None:
                continue
            try:
                prepared = await self._prepare(item, camera, item.request.window)
            except FulfilmentFailed as err:
                _LOGGER.info("no preview from camera %s: %s", camera.name, err)
                continue
            sheet = prepared.redacted.parent / "preview.png"
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
        window = item.approved_window or item.request.window
        queued = {s.registration_id for s in self._uploads.status(request_id)}
        for cam in item.cameras:
            if cam.state not in _WORKING or cam.registration_id in queued:
                continue
            camera = self._store.camera_by_registration(cam.registration_id)
            try:
                if camera is None:
                    raise FulfilmentFailed("this camera is no longer registered on the gateway")
                self._set_camera(request_id, cam.registration_id, "fetching and redacting footage")
                prepared = await self._prepare(item, camera, window)
                self._set_camera(request_id, cam.registration_id, "sealing the clip")
                await self._seal_and_queue(item, cam.registration_id, prepared)
            except FulfilmentFailed as err:
                self._fail(request_id, cam.registration_id, str(err))
            except OSError as err:
                full = err.errno == errno.ENOSPC
                self._fail(request_id, cam.registration_id,
                           "the gateway's disk is full" if full else
                           "the clip could not be written on the gateway")

    async def _prepare(
        self, item: InboxRequest, camera: CameraRecord, window: TimeWindow
    ) -> PreparedClip:
        request_id = item.request.request_id
        try:
            source = self._sources.get(camera.source)
            recordings = await source.recordings(camera.device_id, window)
        except SourceError as err:
            raise FulfilmentFailed(str(err)) from err
        if not recordings:
            raise FulfilmentFailed("the camera recorded nothing during the requested window")
        # One clip per camera and request (the city accepts one manifest each): the recording
        # covering most of the window; the note tells the resident if others were left out.
        recording = max(recordings, key=lambda r: _overlap_s(r, window))
        clip = window.intersection(recording.start, recording.end)
        if clip is None:
            raise FulfilmentFailed("the camera recorded nothing during the requested window")
        note = None if len(recordings) == 1 else f"1 of {len(recordings)} recordings sent"
        folder = self._work / folder_name(request_id) / folder_name(
            camera.registration_id or camera.camera_id)
        start_s = (clip.start - recording.start).total_seconds()
        end_s = (clip.end - recording.start).total_seconds()
        output = folder / f"redacted-{start_s:.3f}-{end_s:.3f}-{self._profile}.mp4"
        original, fetched = await self._fetch(source, recording, folder / "original")
        original_sha256 = await asyncio.to_thread(_sha256, original)
        if fetched:
            self._audit.append(AuditKind.FOOTAGE_FETCHED, request_id, {
                "registration_id": camera.registration_id, "source": recording.source,
                "recording_id": recording.recording_id, "original_sha256": original_sha256,
            })
        report = self._reports.get(output) if output.exists() else None
        if report is None:
            job = RedactionJob(
                input=original, output=output, start_s=start_s, end_s=end_s,
                masks=camera.masks, profile=self._profile, preview=folder / "preview.png",
            )
            loop = asyncio.get_running_loop()
            try:
                report = await loop.run_in_executor(self._executor, redact, job)
            except RedactionError as err:
                raise FulfilmentFailed(str(err)) from err
            except Exception as err:
                _LOGGER.error("redaction worker failed (%s)", type(err).__name__)
                raise FulfilmentFailed("the clip could not be redacted (the clip is corrupt "
                                       "or the redaction worker stopped)") from err
            self._reports[output] = report
            self._audit.append(AuditKind.REDACTED, request_id, {
                "registration_id": camera.registration_id, "frames": report.frames,
                "faces": report.faces, "plates": report.plates, "profile": report.profile,
                "redacted_sha256": report.output_sha256,
            })
        return PreparedClip(output, recording, clip, original_sha256, report, note)

    async def _fetch(
        self, source: FootageSource, recording: Recording, dest: Path
    ) -> tuple[Path, bool]:
        """The original in work/ (fetched once per request); True when fetched just now."""
        marker = dest / f"{hashlib.sha256(recording.recording_id.encode()).hexdigest()[:16]}.done"
        cached = await asyncio.to_thread(_cached_fetch, marker)
        if cached is not None:
            return cached, False
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        try:
            path = await source.fetch(recording, dest)
        except SourceError as err:
            raise FulfilmentFailed(str(err)) from err
        await asyncio.to_thread(marker.write_text, str(path))
        return path, True

    async def _seal_and_queue(
        self, item: InboxRequest, registration_id: str, prepared: PreparedClip
    ) -> None:
        request_id = item.request.request_id
        city = self._store.pinned_city()
        if city is None:
            raise FulfilmentFailed("the gateway is no longer enrolled with a city")
        checkpoint = self._audit.checkpoint().to_json()
        recording = prepared.recording
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
                registration_id=registration_id, clip=prepared.clip,
                original_sha256=prepared.original_sha256, redaction=prepared.report.to_json(),
                source=source_meta, audit_checkpoint=checkpoint,
            )
        except PackagingError as err:
            raise FulfilmentFailed(str(err)) from err
        self._audit.append(AuditKind.SEALED, request_id, {
            "registration_id": registration_id, "upload_key": sealed.upload_key,
            "ciphertext_size": sealed.ciphertext_size, "manifest_sha256": sealed.manifest.digest(),
        })
        self._uploads.enqueue(sealed)
        self._audit.append(AuditKind.UPLOAD_STARTED, request_id, {
            "registration_id": registration_id, "upload_key": sealed.upload_key,
        })
        detail = "waiting to upload" + (f" ({prepared.note})" if prepared.note else "")
        self._set_camera(request_id, registration_id, detail)
        shutil.rmtree(prepared.redacted.parent, ignore_errors=True)

    # upload progress -------------------------------------------------------------------
    async def on_upload_change(self, status: UploadStatus) -> None:
        """UploadQueue's on_change: mirror progress and outcome into the inbox and the log."""
        rid, reg = status.request_id, status.registration_id
        try:
            if status.state is UploadState.DELIVERED:
                self._audit.append(AuditKind.UPLOAD_DONE, rid, {"registration_id": reg})
                self._audit.append(AuditKind.UPLOAD_ACKNOWLEDGED, rid, {
                    "registration_id": reg,
                    "manifest_sha256": (status.acknowledgement or {}).get("body", {}).get(
                        "manifest_sha256"),
                })
                self._change(self._inbox.set_camera_state(
                    rid, reg, CameraState.DELIVERED, None, utcnow()))
            elif status.state is UploadState.FAILED:
                error = status.error or "the upload failed"
                self._audit.append(AuditKind.UPLOAD_FAILED, rid,
                                   {"registration_id": reg, "error": error[:300]})
                self._fail(rid, reg, error)
            elif status.state is UploadState.UPLOADING and status.total_bytes:
                percent = int(100 * status.bytes_sent / status.total_bytes)
                if self._progress.get(status.upload_key, -10) + 10 <= percent:
                    self._progress[status.upload_key] = percent
                    self._set_camera(rid, reg, f"uploading ({percent} %)")
        except InboxError as err:
            _LOGGER.error("upload status not recorded: %s", err)

    def _set_camera(self, request_id: str, registration_id: str, detail: str) -> None:
        self._change(self._inbox.set_camera_state(
            request_id, registration_id, CameraState.UPLOADING, detail, utcnow()))

    def _fail(self, request_id: str, registration_id: str, detail: str) -> None:
        _LOGGER.warning("a camera's clip failed: %s", detail)
        self._change(self._inbox.set_camera_state(
            request_id, registration_id, CameraState.FAILED, detail, utcnow()))

    def _change(self, item: InboxRequest) -> None:
        self._on_change(item)


def preview_file(work_dir: Path, request_id: str) -> Path:
    """Where a request's contact sheet is kept (deleted with the request's work files)."""
    return work_dir / folder_name(request_id) / "preview.png"


def folder_name(identifier: str) -> str:
    """A file-system-safe folder name for an id the city chose (no "..", no slashes)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", identifier):
        return identifier
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _overlap_s(recording: Recording, window: TimeWindow) -> float:
    part = window.intersection(recording.start, recording.end)
    return part.duration.total_seconds() if part else 0.0


def _cached_fetch(marker: Path) -> Path | None:
    if marker.exists():
        cached = Path(marker.read_text())
        if cached.exists():
            return cached
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


