"""Multi-part answers and resident retries, with real video, redaction worker and sealing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gateway.audit import AuditKind
from gateway.fulfilment import Fulfilment, JobKind
from gateway.inbox import CameraState, InvalidDecisionError, InvalidTransitionError
from gateway.uploads import UploadState, UploadStatus
from protocol.custody import Manifest
from protocol.timeutil import TimeWindow

from .service_harness import CityServer
from .sources.conftest import write_clip
from .test_feed import envelope, fresh_request
from .test_fulfilment import Rig, city, gateway, rig, run_until

__all__ = ["city", "gateway", "rig"]


def add_straddling_request(rig: Rig, city: CityServer) -> tuple[str, TimeWindow]:
    """A 4 s window straddling two NVR files of 3 s each (the first ends 2 s into it)."""
    base = fresh_request(rig.gateway).window.start.replace(microsecond=0)
    window = TimeWindow(base + timedelta(seconds=1), base + timedelta(seconds=5))
    request = replace(fresh_request(rig.gateway), window=window)
    for start in (base, base + timedelta(seconds=3)):
        write_clip(rig.footage / "front door" / f"front_{start:%Y%m%d_%H%M%S}.mp4", seconds=3.0)
    assert rig.parts.intake.accept(envelope(city.double.signing, request)) is not None
    return request.request_id, window


async def crash_when(fulfilment: Fulfilment, done: Callable[[], bool], rig: Rig) -> None:
    """Run until `done`, then kill the worker mid-job, as a power cut would."""
    task = asyncio.ensure_future(fulfilment.run(asyncio.Event()))
    async with asyncio.timeout(120):
        while not done():
            assert not task.done(), task
            await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # the orphaned redaction finishes in the worker before the restarted gateway uses it
    await asyncio.get_running_loop().run_in_executor(rig.executor, int)


async def test_every_overlapping_recording_is_a_part_and_a_restart_seals_none_twice(
    rig: Rig, city: CityServer
) -> None:
    rid, window = add_straddling_request(rig, city)
    front, _ = rig.gateway.registration_ids
    inbox = rig.parts.inbox
    inbox.approve(rid, cameras=[front], window=None, decided_by="resident",
                  now=inbox.get(rid).updated_at)
    fulfilment = rig.fulfilment()
    fulfilment.schedule(JobKind.FULFIL, rid)
    await crash_when(fulfilment, lambda: bool(rig.uploads.status(rid)), rig)
    [first] = rig.uploads.status(rid)
    assert (first.part, first.parts) == (1, 2)
    assert inbox.get(rid).camera(front).state is CameraState.UPLOADING

    restarted = rig.fulfilment()
    assert restarted.resume() == 1
    await run_until(restarted, lambda: len(rig.uploads.status(rid)) == 2)
    statuses = sorted(rig.uploads.status(rid), key=lambda s: s.part)
    assert statuses[0] == first                                   # part 1 was not sealed again
    assert [(s.part, s.parts) for s in statuses] == [(1, 2), (2, 2)]
    sealed = [e.data for e in rig.parts.audit.entries(rid) if e.kind is AuditKind.SEALED]
    assert sorted(d["part"] for d in sealed) == [1, 2]
    assert inbox.get(rid).camera(front).detail == "waiting to upload 2 parts"
    assert rig.fulfilment().resume() == 0                         # nothing left to do

    manifests = _manifests(rig, rid)
    clips = [Manifest.from_json(manifests[s.upload_key]).clip for s in statuses]
    assert clips[0].start == window.start and clips[1].end == window.end
    assert abs((clips[1].start - clips[0].end).total_seconds()) < 0.2   # contiguous
    assert all(window.contains(clip) for clip in clips)

    await _delivered(rig, restarted, statuses[0])
    camera = inbox.get(rid).camera(front)
    assert camera.state is CameraState.UPLOADING and camera.detail == "1 of 2 parts delivered"
    await _delivered(rig, restarted, statuses[1])
    assert inbox.get(rid).camera(front).state is CameraState.DELIVERED


async def test_a_failed_source_is_retried_by_the_resident(rig: Rig, city: CityServer) -> None:
    request = fresh_request(rig.gateway)
    assert rig.parts.intake.accept(envelope(city.double.signing, request)) is not None
    rid = request.request_id
    front, drive = rig.gateway.registration_ids
    inbox = rig.parts.inbox
    inbox.approve(rid, cameras=[front], window=None, decided_by="resident",
                  now=inbox.get(rid).updated_at)
    fulfilment = rig.fulfilment()
    with pytest.raises(InvalidTransitionError, match="no failed camera"):
        await fulfilment.retry(rid, None)
    fulfilment.schedule(JobKind.FULFIL, rid)
    await run_until(fulfilment, lambda: inbox.get(rid).camera(front).state
                    is CameraState.FAILED)
    failed = inbox.get(rid)
    assert failed.camera(front).detail                         # the source's sentence

    for cameras in ([drive], [front, drive]):                  # drive was declined
        with pytest.raises(InvalidTransitionError, match="only a failed camera"):
            await fulfilment.retry(rid, cameras)
    with pytest.raises(InvalidDecisionError, match="once"):
        await fulfilment.retry(rid, [front, front])
    assert inbox.get(rid) == failed

    start = request.window.start - timedelta(seconds=1)        # the camera is back online
    write_clip(rig.footage / "front door" / f"front_{start:%Y%m%d_%H%M%S}.mp4", seconds=3.0)
    retried = await fulfilment.retry(rid, None)
    assert retried.camera(front).state is CameraState.APPROVED
    decided = [e.data for e in rig.parts.audit.entries(rid)
               if e.kind is AuditKind.REQUEST_DECIDED]
    assert decided[-1]["action"] == "retry" and decided[-1]["cameras"] == [front]
    await run_until(fulfilment, lambda: bool(rig.uploads.status(rid)))
    [queued] = rig.uploads.status(rid)
    assert (queued.part, queued.parts, queued.state) == (1, 1, UploadState.QUEUED)
    with pytest.raises(InvalidTransitionError):
        await fulfilment.retry(rid, [front])                   # working again, not failed


async def _delivered(rig: Rig, fulfilment: Fulfilment, status: UploadStatus) -> None:
    """Record a part as acknowledged, as the upload queue does, and tell fulfilment."""
    with contextlib.closing(sqlite3.connect(rig.gateway.layout.db)) as db, db:
        db.execute("UPDATE upload_queue SET state = ? WHERE upload_key = ?",
                   (UploadState.DELIVERED.value, status.upload_key))
    await fulfilment.on_upload_change(replace(status, state=UploadState.DELIVERED))


def _manifests(rig: Rig, request_id: str) -> dict[str, Any]:
    """The signed manifests the gateway queued for a request, by upload key."""
    with contextlib.closing(sqlite3.connect(rig.gateway.layout.db)) as db:
        rows = db.execute("SELECT upload_key, manifest_json FROM upload_queue WHERE "
                          "request_id = ?", (request_id,)).fetchall()
    return {key: json.loads(manifest)["body"] for key, manifest in rows}
