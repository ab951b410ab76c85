"""Fulfilment with real video, the real redaction worker process and real sealing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from gateway.audit import AuditEntry, AuditKind
from gateway.config import DEFAULT_TIME_LIMIT, ConfigError, TimeLimit
from gateway.fulfilment import Fulfilment, JobKind
from gateway.inbox import CameraState, InboxRequest, PreviewStatus, RequestState
from gateway.preparation import start_redaction_worker
from gateway.redaction.detectors.plates import bundled_cascades
from gateway.redaction.profiles import BUNDLED, Models
from gateway.sources.base import FootageSource
from gateway.sources.folder import FolderSettings, FolderSource
from gateway.uploads import UploadQueue, UploadState, UploadStatus
from gateway.workers import RestartingPool
from protocol.signing import decode_ed25519_public_key

from .service_harness import CityServer, Gateway, city, gateway
from .sources.conftest import write_clip
from .test_feed import Parts, build_intake, envelope, fresh_request

__all__ = ["city", "gateway"]


class Sources:
    def __init__(self, root: Path, settings: FolderSettings | None = None) -> None:
        self.root, self.settings = root, settings

    def get(self, name: str) -> FootageSource:
        return FolderSource(self.root, name=name, settings=self.settings)


@dataclass
class Rig:
    gateway: Gateway
    parts: Parts
    uploads: UploadQueue
    footage: Path
    executor: RestartingPool
    changes: list[InboxRequest]

    def fulfilment(self, profile: str = "masks-only", models: Models = BUNDLED,
                   time_limit: TimeLimit = DEFAULT_TIME_LIMIT,
                   footage: FolderSettings | None = None) -> Fulfilment:
        return Fulfilment(
            work_dir=self.gateway.layout.work, spool_dir=self.gateway.layout.spool,
            store=self.gateway.store, inbox=self.parts.inbox, audit=self.parts.audit,
            uploads=self.uploads, sources=Sources(self.footage, footage),
            device_key=self.gateway.key,
            executor=self.executor, profile=profile, on_change=self.changes.append,
            models=models, time_limit=time_limit,
        )


@pytest.fixture
async def rig(gateway: Gateway, city: CityServer, tmp_path: Path) -> AsyncIterator[Rig]:
    pinned = gateway.store.pinned_city()
    assert pinned is not None
    uploads = UploadQueue(gateway.layout.db, city_url=city.url, gateway_id=pinned.gateway_id,
                          device_key=gateway.key,
                          city_signing_key=decode_ed25519_public_key(pinned.signing_key))
    executor = RestartingPool(multiprocessing.get_context("spawn"))
    try:
        yield Rig(gateway, build_intake(gateway), uploads, tmp_path / "footage", executor, [])
    finally:
        executor.shutdown(cancel_futures=True)


Until = Callable[[Callable[[], bool]], Awaitable[None]]
# A time limit every redaction passes (1 us), and a stall limit every redaction passes.
HASTY = TimeLimit(base_s=1e-6, per_clip_second_s=0)
IMPATIENT = TimeLimit(stall_s=1e-6)


@contextlib.asynccontextmanager
async def running(fulfilment: Fulfilment, limit_s: float = 120) -> AsyncIterator[Until]:
    """Fulfilment running in the background; `until(done)` waits for `done()` meanwhile."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(fulfilment.run(stop))

    async def until(done: Callable[[], bool]) -> None:
        deadline = asyncio.get_running_loop().time() + limit_s
        while not done():
            assert asyncio.get_running_loop().time() < deadline, "fulfilment did not finish"
            assert not task.done(), task
            await asyncio.sleep(0.02)

    try:
        yield until
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def run_until(fulfilment: Fulfilment, done: Callable[[], bool], limit_s: float = 120) -> None:
    async with running(fulfilment, limit_s) as until:
        await until(done)


def add_request(
    rig: Rig, city: CityServer, suffix: str = ".mp4", fps: int = 10, seconds: float = 3.0
) -> str:
    request = fresh_request(rig.gateway)
    # a recording on the front camera starting 1 s before the window, 3 s long by default
    start = request.window.start - timedelta(seconds=1)
    name = f"front_{start:%Y%m%d_%H%M%S}{suffix}"
    write_clip(rig.footage / "front door" / name, seconds=seconds, fps=fps)
    assert rig.parts.intake.accept(envelope(city.double.signing, request)) is not None
    return request.request_id


async def test_preview_then_approval_seals_and_queues(rig: Rig, city: CityServer) -> None:
    rid = add_request(rig, city)
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.FULFIL, rid)        # pending: nothing may be prepared to leave
    fulfilment.schedule(JobKind.PREVIEW, rid)
    inbox = rig.parts.inbox
    await run_until(fulfilment, lambda: inbox.get(rid).preview is PreviewStatus.READY)
    assert rig.uploads.status(rid) == []
    sheet = fulfilment.preview_path(rid)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    inbox.approve(rid, cameras=None, window=None, decided_by="resident",
                  now=inbox.get(rid).updated_at)
    fulfilment.schedule(JobKind.FULFIL, rid)
    front, drive = rig.gateway.registration_ids

    def settled() -> bool:
        cams = {c.registration_id: c for c in inbox.get(rid).cameras}
        return cams[drive].state is CameraState.FAILED and cams[front].detail == \
            "waiting to upload"

    await run_until(fulfilment, settled)
    [queued] = rig.uploads.status(rid)
    assert queued.registration_id == front and queued.state is UploadState.QUEUED
    assert queued.total_bytes > 0
    assert list(rig.gateway.layout.spool.iterdir())
    failed = {c.registration_id: c for c in inbox.get(rid).cameras}[drive]
    assert failed.detail                                  # a sentence from the source
    kinds = [e.kind for e in rig.parts.audit.entries(rid)]
    for kind in (AuditKind.FOOTAGE_FETCHED, AuditKind.REDACTED, AuditKind.SEALED,
                 AuditKind.UPLOAD_STARTED):
        assert kind in kinds
    # the clip is only redacted once: the preview's redaction is reused for the approval
    assert kinds.count(AuditKind.REDACTED) == 1

    # a restart resumes nothing that is already queued
    assert rig.fulfilment().resume() == 0
    await fulfilment.on_upload_change(UploadStatus(
        queued.upload_key, rid, front, 1, 1, UploadState.DELIVERED, queued.total_bytes,
        queued.total_bytes, 1, None, {"body": {"manifest_sha256": "ab" * 32}}))
    cams = {c.registration_id: c for c in inbox.get(rid).cameras}
    assert cams[front].state is CameraState.DELIVERED
    assert AuditKind.UPLOAD_ACKNOWLEDGED in [e.kind for e in rig.parts.audit.entries(rid)]


async def redacted_preview(fulfilment: Fulfilment, rig: Rig, request_id: str) -> AuditEntry:
    """Prepare the request's preview, which must succeed; its one `redacted` audit entry."""
    fulfilment.schedule(JobKind.PREVIEW, request_id)
    settled = (PreviewStatus.READY, PreviewStatus.FAILED)
    await run_until(fulfilment, lambda: rig.parts.inbox.get(request_id).preview in settled)
    assert rig.parts.inbox.get(request_id).preview is PreviewStatus.READY
    [redacted] = [e for e in rig.parts.audit.entries(request_id) if e.kind is AuditKind.REDACTED]
    return redacted


@pytest.mark.parametrize("suffix", [".mpg", ".h264"])
async def test_a_recorders_mpeg_ps_or_raw_h264_export_is_redacted_from_the_window(
    rig: Rig, city: CityServer, suffix: str
) -> None:
    rid = add_request(rig, city, suffix, fps=30)
    redacted = await redacted_preview(rig.fulfilment(), rig, rid)
    # The window starts 1 s (and the part of a second the file name leaves out) into the 3 s
    # clip: every frame from there to its end, at 30 fps.
    window_start = rig.parts.inbox.get(rid).request.window.start
    start_s = 1 + window_start.microsecond / 1e6
    assert redacted.data["frames"] == 90 - math.ceil(start_s * 30 - 1e-9)


async def test_a_raw_stream_stating_no_frame_rate_is_redacted_once_its_source_is_given_one(
    rig: Rig, city: CityServer
) -> None:
    # A doorbell's raw MJPEG, 3 s at 10 fps. At FFmpeg's assumed 25 fps it lasts 1.2 s and
    # may end before the window: "the camera recorded nothing", or, cut at that rate, frames
    # from outside the window.
    rid = add_request(rig, city, ".mjpeg", fps=10)
    front, inbox = approve_front(rig, rid), rig.parts.inbox
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.FULFIL, rid)
    async with running(fulfilment) as until:
        await until(lambda: inbox.get(rid).camera(front).state is CameraState.FAILED)
    detail = inbox.get(rid).camera(front).detail or ""
    assert detail.endswith(".mjpeg is a raw stream that states no frame rate, so which of its "
                           "frames fall in the window is unknown: give the source its cameras' "
                           "frame rate (source set yard --frame-rate RATE), or have the camera "
                           "record in a container such as MP4.")
    assert redactions(rig, rid) == 0 and rig.uploads.status(rid) == []
    # The resident gives the source the camera's rate, and retries.
    fulfilment = rig.fulfilment(footage=FolderSettings(frame_rate=Fraction(10)))
    await fulfilment.retry(rid, None)
    async with running(fulfilment) as until:
        await until(lambda: inbox.get(rid).camera(front).detail == "waiting to upload")
    [redacted] = [e for e in rig.parts.audit.entries(rid) if e.kind is AuditKind.REDACTED]
    start_s = 1 + inbox.get(rid).request.window.start.microsecond / 1e6
    assert redacted.data["frames"] == 30 - math.ceil(start_s * 10 - 1e-9)
    # The signed manifest tells the city at which rate the recording was timed.
    with contextlib.closing(sqlite3.connect(rig.uploads.db_path)) as db:
        [(signed,)] = db.execute("SELECT manifest_json FROM upload_queue WHERE request_id = ?",
                                 (rid,)).fetchall()
    assert json.loads(signed)["body"]["source"]["frame_rate"] == "10"


def residents_cascade(folder: Path) -> Path:
    """A plate cascade of the resident's own: a copy of another one OpenCV ships."""
    cascade = folder / "our-plates.xml"
    cascade.write_bytes((bundled_cascades() / "haarcascade_license_plate_rus_16stages.xml")
                        .read_bytes())
    return cascade


async def test_the_residents_model_files_redact_and_are_recorded_in_the_audit(
    rig: Rig, city: CityServer, tmp_path: Path
) -> None:
    cascade = residents_cascade(tmp_path)
    rid = add_request(rig, city)
    redacted = await redacted_preview(rig.fulfilment("standard", Models(plates=cascade)), rig, rid)
    tools = redacted.data["tools"]
    assert tools["plate-model:our-plates.xml"] == hashlib.sha256(cascade.read_bytes()).hexdigest()
    assert tools["face-model:centerface.onnx"]


async def test_model_files_that_load_past_the_time_limit_stop_the_gateway_starting(
    tmp_path: Path,
) -> None:
    cascade = residents_cascade(tmp_path)
    with pytest.raises(ConfigError) as refused:
        await asyncio.wait_for(start_redaction_worker(Models(plates=cascade), HASTY), 60)
    assert str(refused.value) == (
        "cannot redact with the model files given: loading them took longer than 1e-06 s")
    worker = await start_redaction_worker(Models(plates=cascade), DEFAULT_TIME_LIMIT)
    worker.shutdown()


async def test_a_redaction_worker_that_dies_fails_its_camera_and_a_retry_redacts_it(
    rig: Rig, city: CityServer
) -> None:
    rid = add_request(rig, city, fps=30, seconds=60.0)  # a minute: redacting it takes a while
    front = approve_front(rig, rid)
    inbox, work = rig.parts.inbox, rig.gateway.layout.work
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.FULFIL, rid)
    async with running(fulfilment) as until:
        # The clip is being encoded (`temp_path_for`'s names: not the copy the gateway fetches
        # first, `.NAME.partial`, before the redaction worker has started).
        await until(lambda: any(re.search(r"\.[0-9a-f]{8}\.partial$", path.name)
                                for path in work.rglob("*.partial")))
        [worker] = rig.executor.pids()
        os.kill(worker, signal.SIGKILL)  # as the kernel does when memory runs out
        await until(lambda: inbox.get(rid).camera(front).state is CameraState.FAILED)
        assert inbox.get(rid).camera(front).detail == (
            "the redaction worker stopped (it ran out of memory or crashed on this clip); retry "
            "to redact it again")
        assert not any(work.rglob("*.partial"))  # what the worker left is deleted
        await fulfilment.retry(rid, None)
        await until(lambda: inbox.get(rid).camera(front).detail == "waiting to upload")
    assert redactions(rig, rid) == 1


async def test_a_clip_queued_behind_a_job_whose_worker_died_is_redacted_by_a_new_worker(
    rig: Rig, city: CityServer
) -> None:
    rid = add_request(rig, city)
    front, inbox = approve_front(rig, rid), rig.parts.inbox
    loop = asyncio.get_running_loop()
    busy = loop.run_in_executor(rig.executor, time.sleep, 60)  # the clip queues behind this
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.FULFIL, rid)
    async with running(fulfilment) as until:
        # Fetched, so the clip was handed to the worker (nothing awaits in between).
        await until(lambda: AuditKind.FOOTAGE_FETCHED in
                    [e.kind for e in rig.parts.audit.entries(rid)])
        [worker] = rig.executor.pids()
        os.kill(worker, signal.SIGKILL)  # the job ahead is to blame, not the clip
        with pytest.raises(BrokenProcessPool):
            await busy
        await until(lambda: inbox.get(rid).camera(front).detail == "waiting to upload")
    assert redactions(rig, rid) == 1
    assert all(camera.state is not CameraState.FAILED
               for change in rig.changes for camera in change.cameras)


def approve_front(rig: Rig, request_id: str) -> str:
    """Approve the request for the front camera alone, as the resident; its registration id."""
    front, _ = rig.gateway.registration_ids
    inbox = rig.parts.inbox
    inbox.approve(request_id, cameras=[front], window=None, decided_by="resident",
                  now=inbox.get(request_id).updated_at)
    return front


def redactions(rig: Rig, request_id: str) -> int:
    return [e.kind for e in rig.parts.audit.entries(request_id)].count(AuditKind.REDACTED)


@pytest.mark.parametrize(("limit", "sentence", "logged"), [
    (HASTY, "redacting the clip took longer than the 0 s allowed for it and was stopped; retry "
     "to redact it again (on a slow machine, raise serve's --redaction-time-limit)",
     "passed its 0 s time limit"),
    (IMPATIENT, "redacting the clip made no progress for 0 s (it hung) and was stopped; retry "
     "to redact it again", "a clip made no progress for 0 s"),
], ids=["time limit", "stall limit"])  # 1 us, rounded to whole seconds
async def test_a_redaction_past_its_time_limit_fails_its_camera_and_a_retry_redacts_it(
    rig: Rig, city: CityServer, caplog: pytest.LogCaptureFixture, limit: TimeLimit,
    sentence: str, logged: str,
) -> None:
    rid, inbox = add_request(rig, city), rig.parts.inbox
    previewer = rig.fulfilment()
    previewer.schedule(JobKind.PREVIEW, rid)
    await run_until(previewer, lambda: inbox.get(rid).preview is PreviewStatus.READY)
    # A new Fulfilment (as after a restart) holds no report for the clip on disk, so it redacts
    # again; beside the clip, what a worker killed mid-clip would also have left.
    front, _ = rig.gateway.registration_ids
    clip = next(rig.gateway.layout.work.glob(f"*/{front}/*/redacted-*.mp4"))
    (clip.parent / f".{clip.name}.0badc0de.partial").write_bytes(b"half a clip")
    before = redactions(rig, rid)
    approve_front(rig, rid)
    limited = rig.fulfilment(time_limit=limit)
    limited.schedule(JobKind.FULFIL, rid)
    async with running(limited) as until:
        await until(lambda: inbox.get(rid).camera(front).state is CameraState.FAILED)
    assert inbox.get(rid).camera(front).detail == sentence
    assert redactions(rig, rid) == before
    assert not list(clip.parent.glob("*redacted-*"))  # nothing half-done is kept
    stopped = [r.getMessage() for r in caplog.records if logged in r.getMessage()]
    assert len(stopped) == 1 and "its threads were at:\n" in stopped[0]  # where it stood
    assert 'File "' in stopped[0]
    fulfilment = rig.fulfilment()
    await fulfilment.retry(rid, None)
    async with running(fulfilment) as until:
        await until(lambda: inbox.get(rid).camera(front).detail == "waiting to upload")
    assert redactions(rig, rid) == before + 1


async def test_declined_work_is_deleted_and_restart_resumes(rig: Rig, city: CityServer) -> None:
    declined, approved = add_request(rig, city), add_request(rig, city)
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.PREVIEW, declined)
    inbox = rig.parts.inbox
    await run_until(fulfilment, lambda: inbox.get(declined).preview is PreviewStatus.READY)
    work = rig.gateway.layout.work / declined
    assert work.exists()
    inbox.decline(declined, cameras=None, decided_by="resident",
                  now=inbox.get(declined).updated_at)
    fulfilment.discard(declined)
    assert not work.exists()

    inbox.approve(approved, cameras=rig.gateway.registration_ids[:1], window=None,
                  decided_by="resident", now=inbox.get(approved).updated_at)
    restarted = rig.fulfilment()                      # as after a crash before the job ran
    assert restarted.resume() == 1
    await run_until(restarted, lambda: bool(rig.uploads.status(approved)))
    assert inbox.get(approved).state in (RequestState.APPROVED, RequestState.UPLOADING)
