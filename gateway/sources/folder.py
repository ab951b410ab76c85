"""Footage from a folder of recordings: Frigate, NVR exports, Home Assistant's camera.record."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.timeutil import TimeWindow

from .base import (
    NoFootageError,
    Recording,
    SourceCamera,
    SourceError,
    SourceUnavailableError,
    UnknownCameraError,
)
from .folder_index import CameraLayout, FolderIndex, FolderSettings

_LOGGER = logging.getLogger(__name__)
# A camera's note in `source list` where a raw stream of it has no rate to be timed by.
_UNKNOWN_LENGTH = "raw streams that state no frame rate: their lengths are unknown"

type NewRecordingCallback = Callable[[Recording], Awaitable[None] | None]

__all__ = ["CameraLayout", "FolderSettings", "FolderSource", "NewRecordingCallback"]


class FolderSource:
    """Recordings in a local folder, indexed by start time and refreshed when the folder changes."""

    kind = "folder"

    def __init__(
        self,
        root: Path,
        *,
        name: str = "folder",
        settings: FolderSettings | None = None,
        hard_link: bool = False,
    ) -> None:
        settings = settings or FolderSettings()
        try:
            ZoneInfo(settings.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SourceError(
                f"'{settings.time_zone}' is not a time zone name; use one like "
                "'America/New_York' or 'UTC'."
            ) from exc
        self.name = name
        self.root = root
        self.settings = settings
        self._hard_link = hard_link
        self._index = FolderIndex(root, name, settings)
        self._lock = asyncio.Lock()

    async def refresh(self) -> list[Recording]:
        """Rescan the folder; return the recordings that appeared since the last scan."""
        async with self._lock:
            return await asyncio.to_thread(self._index.refresh)

    async def recordings(self, device_id: str, window: TimeWindow) -> list[Recording]:
        """Recordings of `device_id` that overlap `window`, oldest first."""
        await self.refresh()
        mine = [r for r in self._index.recordings() if r.device_id == device_id]
        if not mine:
            raise UnknownCameraError(
                f"The folder source '{self.name}' has no recordings for camera '{device_id}'; "
                "check the camera's sub-folder name."
            )
        found = []
        for recording, after in zip(mine, [*mine[1:], None], strict=True):
            if self._index.length_known(recording):
                if window.overlaps(recording.start, recording.end):
                    found.append(recording)
            # Timed at an assumed rate, it may last until the camera's next recording.
            elif recording.start < window.end and (after is None or window.start < after.start):
                raise SourceError(
                    f"{recording.metadata['file_name']} is a raw stream that states no frame "
                    "rate, so which of its frames fall in the window is unknown: give the "
                    f"source its cameras' frame rate (source set {self.name} --frame-rate "
                    "RATE), or have the camera record in a container such as MP4."
                )
        return found

    async def cameras(self) -> list[SourceCamera]:
        """Every camera with at least one recording, with the span of footage it has."""
        await self.refresh()
        spans: dict[str, SourceCamera] = {}
        for rec in self._index.recordings():
            known = spans.get(rec.device_id)
            start = rec.start if known is None or known.footage_start is None else min(
                known.footage_start, rec.start
            )
            end = rec.end if known is None or known.footage_end is None else max(
                known.footage_end, rec.end
            )
            note = known.model if known is not None else ""
            if not self._index.length_known(rec):
                note = _UNKNOWN_LENGTH
            spans[rec.device_id] = SourceCamera(rec.device_id, rec.device_id, start, end, note)
        return [spans[k] for k in sorted(spans)]

    def skipped(self) -> dict[str, str]:
        """File names the last scan skipped, with the reason (for diagnostics)."""
        return {
            PurePosixPath(rel).name: entry.skip_reason
            for rel, entry in self._index.entries.items()
            if entry.skip_reason is not None
        }

    async def fetch(self, recording: Recording, dest_dir: Path) -> Path:
        """Copy (or hard-link) the recording's file into `dest_dir` and return the new path."""
        source_path = self._resolve(recording.recording_id)
        return await asyncio.to_thread(self._copy, source_path, dest_dir)

    async def watch(
        self, on_new: NewRecordingCallback | None = None, interval_s: float = 5.0
    ) -> None:
        """Poll the folder forever, calling `on_new` for each recording that appears."""
        unavailable = False
        while True:
            try:
                added = await self.refresh()
            except SourceUnavailableError as exc:
                if not unavailable:  # one line on loss, not one per poll
                    _LOGGER.warning("Folder source %s: %s", self.name, exc)
                unavailable = True
                added = []
            else:
                if unavailable:
                    _LOGGER.info("Folder source %s is readable again", self.name)
                unavailable = False
            for recording in added:
                if on_new is not None:
                    result = on_new(recording)
                    if inspect.isawaitable(result):
                        await result
            await asyncio.sleep(interval_s)

    def _resolve(self, recording_id: str) -> Path:
        rel = PurePosixPath(recording_id)
        if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
            raise SourceError(f"'{recording_id}' is not a recording of this folder source.")
        return self.root.joinpath(*rel.parts)

    def _copy(self, source_path: Path, dest_dir: Path) -> Path:
        if not self.root.is_dir():
            raise SourceUnavailableError(
                f"The footage folder of source '{self.name}' cannot be found; "
                "check that the disk or network share is mounted."
            )
        if not source_path.is_file():
            raise NoFootageError(
                f"The recording {source_path.name} was removed from the folder after it was "
                "listed (the recorder's retention may have deleted it)."
            )
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = _free_name(dest_dir, source_path.name)
        partial = target.with_name(f".{target.name}.partial")
        try:
            if self._hard_link:
                try:
                    os.link(source_path, partial)
                except OSError:  # another file system, or links not allowed: copy instead
                    shutil.copyfile(source_path, partial)
            else:
                shutil.copyfile(source_path, partial)
            partial.replace(target)
        except FileNotFoundError as exc:
            partial.unlink(missing_ok=True)
            raise SourceUnavailableError(
                f"The recording {source_path.name} disappeared while it was being copied; "
                "check that the footage folder is still mounted and try again."
            ) from exc
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise SourceUnavailableError(
                f"The recording {source_path.name} could not be copied ({exc.strerror}); "
                "check free disk space and the folder's permissions."
            ) from exc
        return target


def _free_name(dest_dir: Path, name: str) -> Path:
    candidate = dest_dir / name
    stem, suffix = candidate.stem, candidate.suffix
    counter = 1
    while candidate.exists():
        candidate = dest_dir / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate
