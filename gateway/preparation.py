"""From a camera's recordings to redacted clips in work/: plan the parts, fetch, redact."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import re
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Protocol

from protocol.custody import MAX_PARTS
from protocol.timeutil import TimeWindow

from .audit import AuditKind, AuditLog
from .config import DEFAULT_TIME_LIMIT, ConfigError, TimeLimit
from .redaction.pipeline import (
    RedactionError,
    RedactionJob,
    RedactionReport,
    check_models,
    file_sha256,
    redact,
    remove_leftovers,
)
from .redaction.profiles import BUNDLED, Models
from .sources.base import FootageSource, Recording, SourceError
from .sources.containers import UnreadableRecordingError, probe_container
from .store import CameraRecord
from .workers import RestartingPool, TimeLimitExceeded, remove_stale_job_folders, run_in_worker

_LOGGER = logging.getLogger(__name__)


class SourceLookup(Protocol):
    def get(self, name: str) -> FootageSource: ...


class FulfilmentFailed(Exception):
    """A camera's clip cannot be produced; the message is shown to the resident."""


@dataclass(frozen=True)
class PlannedPart:
    """One recording overlapping the window: part `part` of `parts` of the camera's answer."""

    part: int
    parts: int
    recording: Recording
    clip: TimeWindow  # the recording trimmed to the window


@dataclass(frozen=True)
class PreparedClip:
    """A redacted clip in work/, with what the manifest needs to say about where it came from."""

    planned: PlannedPart
    redacted: Path
    original_sha256: str
    report: RedactionReport

    @property
    def folder(self) -> Path:
        """The part's work folder (original, redacted clip, contact sheet)."""
        return self.redacted.parent


def plan_parts(recordings: list[Recording], window: TimeWindow) -> list[PlannedPart]:
    """One part per recording overlapping `window`, in time order, each trimmed to it."""
    overlaps = sorted(
        ((rec, clip) for rec in recordings
         if (clip := window.intersection(rec.start, rec.end)) is not None),
        key=lambda pair: (pair[1].start, pair[1].end, pair[0].recording_id),
    )
    if not overlaps:
        raise FulfilmentFailed("the camera recorded nothing during the requested window")
    if len(overlaps) > MAX_PARTS:
        raise FulfilmentFailed(
            f"the camera holds {len(overlaps)} recordings in the window; at most {MAX_PARTS} "
            "can be sent, so approve a narrower window"
        )
    return [PlannedPart(index, len(overlaps), rec, clip)
            for index, (rec, clip) in enumerate(overlaps, start=1)]


async def start_redaction_worker(
    models: Models, time_limit: TimeLimit = DEFAULT_TIME_LIMIT
) -> RestartingPool:
    """The process that redacts. The resident's model files are loaded there first, so a bad one
    stops the gateway when it starts instead of failing every request; loading them may take
    the time limit of a clip of no length. Job folders a killed gateway left are deleted."""
    _LOGGER.info("a redaction is stopped as hung after %g s without progress, or after %g s "
                 "plus %g s per second of clip", time_limit.stall_s, time_limit.base_s,
                 time_limit.per_clip_second_s)
    await asyncio.to_thread(remove_stale_job_folders)
    executor = RestartingPool(multiprocessing.get_context("spawn"))
    if models == BUNDLED:
        return executor

    def refused(reason: str) -> ConfigError:
        executor.shutdown(wait=False, cancel_futures=True)
        return ConfigError(f"cannot redact with the model files given: {reason}")

    limit_s = time_limit.for_clip(0)
    try:
        await run_in_worker(executor, limit_s, check_models, models)
    except RedactionError as err:
        raise refused(str(err)) from err
    except TimeLimitExceeded as err:
        raise refused(f"loading them took longer than {limit_s:g} s") from err
    except BrokenProcessPool as err:
        raise refused("loading them stopped the worker (it ran out of memory or crashed)") from err
    return executor


class ClipPreparation:
    """Lists, fetches and redacts (in the worker process) a camera's recordings."""

    def __init__(self, *, work_dir: Path, audit: AuditLog, sources: SourceLookup,
                 executor: Executor, profile: str, models: Models = BUNDLED,
                 time_limit: TimeLimit = DEFAULT_TIME_LIMIT) -> None:
        self._work, self._audit, self._sources = work_dir, audit, sources
        self._executor, self._profile, self._models = executor, profile, models
        self._time_limit = time_limit
        # Redactions done in this run (a preview's clip is reused when the window is approved).
        self._reports: dict[Path, RedactionReport] = {}

    async def plan(
        self, request_id: str, camera: CameraRecord, window: TimeWindow
    ) -> list[PlannedPart]:
        """The camera's parts for `window`; FulfilmentFailed with the source's sentence."""
        try:
            source = self._sources.get(camera.source)
            recordings = await source.recordings(camera.device_id, window)
        except SourceError as err:
            raise FulfilmentFailed(str(err)) from err
        return plan_parts([await self._measured(request_id, camera, source, recording)
                           for recording in recordings], window)

    async def _measured(self, request_id: str, camera: CameraRecord, source: FootageSource,
                        recording: Recording) -> Recording:
        """`recording` with its true end where its source could only estimate it (Ring's history
        gives no length: up to 120 s is assumed), so that a clip that ended before the window
        is no part of the answer. It is fetched for that, as `prepare` would fetch it."""
        if recording.metadata.get("end_estimated") != "true":
            return recording
        original, _ = await self._original(request_id, camera, source, recording)
        try:
            times = await asyncio.to_thread(probe_container, original)
        except UnreadableRecordingError:
            return recording  # redacting it says what is wrong with it
        end = recording.start + timedelta(seconds=times.duration_s)
        return replace(recording, end=end,
                       metadata={**recording.metadata, "end_estimated": "false"})

    def camera_folder(self, request_id: str, camera: CameraRecord) -> Path:
        return self._work / folder_name(request_id) / folder_name(
            camera.registration_id or camera.camera_id)

    async def prepare(self, request_id: str, camera: CameraRecord,
                      planned: PlannedPart) -> PreparedClip:
        """Fetch (once per request) and redact (once per run) one planned part."""
        recording, clip = planned.recording, planned.clip
        folder = self._folder(request_id, camera, recording)
        start_s = (clip.start - recording.start).total_seconds()
        end_s = (clip.end - recording.start).total_seconds()
        # Event images (Nest) are redacted into a PNG; everything else is a clip.
        picture = recording.metadata.get("content_type", "").startswith("image/")
        suffix = "png" if picture else "mp4"
        output = folder / f"redacted-{start_s:.3f}-{end_s:.3f}-{self._profile}.{suffix}"
        try:
            source = self._sources.get(camera.source)
        except SourceError as err:
            raise FulfilmentFailed(str(err)) from err
        original, original_sha256 = await self._original(request_id, camera, source, recording)
        if original_sha256 is None:
            original_sha256 = await asyncio.to_thread(file_sha256, original)
        report = self._reports.get(output) if output.exists() else None
        if report is None:
            job = RedactionJob(
                input=original, output=output, start_s=start_s, end_s=end_s,
                masks=camera.masks, profile=self._profile, preview=folder / "preview.png",
                models=self._models, fps=_raw_rate(recording),
            )
            limit_s = self._time_limit.for_clip(end_s - start_s)
            try:
                report = await run_in_worker(self._executor, limit_s, redact, job,
                                             stall_s=self._time_limit.stall_s)
            except RedactionError as err:
                raise FulfilmentFailed(str(err)) from err
            except BrokenProcessPool as err:  # the next job gets a new worker (RestartingPool)
                await asyncio.to_thread(remove_leftovers, job)
                raise FulfilmentFailed(_stopped(err)) from err
            except Exception as err:
                _LOGGER.error("redaction worker failed (%s)", type(err).__name__)
                raise FulfilmentFailed("the clip could not be redacted (the clip is corrupt "
                                       "or the redaction worker stopped)") from err
            self._reports[output] = report
            self._audit.append(AuditKind.REDACTED, request_id, {
                "registration_id": camera.registration_id,
                "recording_id": recording.recording_id, "frames": report.frames,
                "faces": report.faces, "plates": report.plates, "profile": report.profile,
                "tools": report.tools,
                "redacted_sha256": report.output_sha256,
                "part": planned.part, "parts": planned.parts,
            })
        return PreparedClip(planned, output, original_sha256, report)

    def _folder(self, request_id: str, camera: CameraRecord, recording: Recording) -> Path:
        """Where one recording's original, redacted clip and contact sheet are kept."""
        return self.camera_folder(request_id, camera) / _digest(recording.recording_id)

    async def _original(self, request_id: str, camera: CameraRecord, source: FootageSource,
                        recording: Recording) -> tuple[Path, str | None]:
        """The original in work/, fetched once per request; with its SHA-256 when fetched just
        now (the fetch is logged in the audit with it), else None."""
        dest = self._folder(request_id, camera, recording) / "original"
        marker = dest / f"{_digest(recording.recording_id)}.done"
        cached = await asyncio.to_thread(_cached_fetch, marker)
        if cached is not None:
            return cached, None
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        try:
            path = await source.fetch(recording, dest)
        except SourceError as err:
            raise FulfilmentFailed(str(err)) from err
        await asyncio.to_thread(marker.write_text, str(path))
        sha256 = await asyncio.to_thread(file_sha256, path)
        self._audit.append(AuditKind.FOOTAGE_FETCHED, request_id, {
            "registration_id": camera.registration_id, "source": recording.source,
            "recording_id": recording.recording_id, "original_sha256": sha256,
        })
        return path, sha256


def _raw_rate(recording: Recording) -> Fraction | None:
    """The frame rate a raw stream is timed at, as its source was told (folder --frame-rate)."""
    rate = recording.metadata.get("frame_rate")
    return None if rate is None else Fraction(rate)


def _stopped(err: BrokenProcessPool) -> str:
    """Why the worker died on this clip, logged (with where it hung) and for the resident."""
    if isinstance(err, TimeLimitExceeded) and err.stalled:
        _LOGGER.error("redacting a clip made no progress for %.0f s and was stopped; its "
                      "threads were at:\n%s", err.stall_s, err.stacks)
        return (f"redacting the clip made no progress for {err.stall_s:.0f} s (it hung) and was "
                "stopped; retry to redact it again")
    if isinstance(err, TimeLimitExceeded):
        _LOGGER.error("redacting a clip passed its %.0f s time limit and was stopped; its "
                      "threads were at:\n%s", err.limit_s, err.stacks)
        return (f"redacting the clip took longer than the {err.limit_s:.0f} s allowed for it and "
                "was stopped; retry to redact it again (on a slow machine, raise serve's "
                "--redaction-time-limit)")
    _LOGGER.error("the redaction worker died")
    return ("the redaction worker stopped (it ran out of memory or crashed on this clip); retry "
            "to redact it again")


def folder_name(identifier: str) -> str:
    """A file-system-safe folder name for an id the city chose (no "..", no slashes)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", identifier):
        return identifier
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _digest(recording_id: str) -> str:
    """A short file name for a recording id (ids may hold slashes and spaces)."""
    return hashlib.sha256(recording_id.encode()).hexdigest()[:16]


def _cached_fetch(marker: Path) -> Path | None:
    if marker.exists():
        cached = Path(marker.read_text())
        if cached.exists():
            return cached
    return None
