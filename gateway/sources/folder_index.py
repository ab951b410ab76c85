"""The in-memory index of a footage folder, refreshed by a cheap scan of directory mtimes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from enum import StrEnum
from fractions import Fraction
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from .base import Recording, SourceUnavailableError
from .containers import UnreadableRecordingError, probe_container
from .filenames import VIDEO_SUFFIXES, NamePattern, ParsedName, parse_recording_name

_LOGGER = logging.getLogger(__name__)
_MAX_DEPTH = 6  # Frigate's recordings/YYYY-MM-DD/HH/<camera>/ under a media root is the deepest


class CameraLayout(StrEnum):
    """Where the device id comes from for files whose name pattern does not carry one."""

    SUBFOLDER = "subfolder"  # ROOT/<device_id>/..., falling back to the camera part of the name
    FILE_NAME = "file_name"  # the camera part of the name, falling back to the first sub-folder


@dataclass(frozen=True)
class FolderSettings:
    """How to read one footage folder."""

    time_zone: str = "UTC"
    clock_offset_s: float = 0.0  # seconds the recorder's clock runs ahead of true time
    layout: CameraLayout = CameraLayout.SUBFOLDER
    # The rate of the cameras' raw streams (.h264, .hevc, .mjpeg), which carry no timestamps:
    # needed where they state none, and it wins over one they state (cheap cameras misstate it).
    frame_rate: Fraction | None = None


@dataclass(frozen=True)
class IndexEntry:
    """One file as last seen: its stat signature and either a recording or why it was skipped."""

    mtime_ns: int
    size: int
    recording: Recording | None
    skip_reason: str | None = None
    length_known: bool = True  # False: a raw stream stating no frame rate (see ContainerTimes)


@dataclass
class _DirListing:
    mtime_ns: int
    files: tuple[str, ...]
    subdirs: tuple[str, ...]
    fresh: bool  # re-read during the current scan


@dataclass
class FolderIndex:
    """Recordings under `root`, keyed by their path relative to it (posix)."""

    root: Path
    source_name: str
    settings: FolderSettings
    entries: dict[str, IndexEntry] = field(default_factory=dict)
    _dirs: dict[str, _DirListing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.settings.time_zone)

    def refresh(self) -> list[Recording]:
        """Bring the index up to date (blocking); return the recordings new since last time."""
        if not self.root.is_dir():
            raise SourceUnavailableError(
                f"The footage folder of source '{self.source_name}' cannot be found; "
                "check that the disk or network share is mounted."
            )
        seen_files: set[str] = set()
        seen_dirs: set[str] = set()
        added: list[Recording] = []
        self._scan_dir("", 0, seen_files, seen_dirs, added)
        for gone in set(self.entries) - seen_files:
            del self.entries[gone]
        for gone in set(self._dirs) - seen_dirs:
            del self._dirs[gone]
        return sorted(added, key=lambda r: r.start)

    def recordings(self) -> list[Recording]:
        """Every indexed recording, oldest first."""
        found = [e.recording for e in self.entries.values() if e.recording is not None]
        return sorted(found, key=lambda r: (r.start, r.recording_id))

    def length_known(self, recording: Recording) -> bool:
        """False for a raw stream that states no frame rate, which ends who knows when."""
        entry = self.entries.get(recording.recording_id)
        return entry is None or entry.length_known

    def _scan_dir(
        self,
        rel_dir: str,
        depth: int,
        seen_files: set[str],
        seen_dirs: set[str],
        added: list[Recording],
    ) -> None:
        listing = self._listing(rel_dir)
        if listing is None:
            return
        seen_dirs.add(rel_dir)
        for name in listing.files:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            known = self.entries.get(rel)
            # In an unchanged directory only skipped files (perhaps still being written) are
            # looked at again; indexed ones keep their entry without even a stat.
            if known is not None and known.recording is not None and not listing.fresh:
                seen_files.add(rel)
                continue
            entry = self._index_file(rel, known)
            if entry is None:
                continue
            seen_files.add(rel)
            if entry.recording is not None and (known is None or known.recording is None):
                added.append(entry.recording)
            self.entries[rel] = entry
        listing.fresh = False
        if depth < _MAX_DEPTH:
            for sub in listing.subdirs:
                child = f"{rel_dir}/{sub}" if rel_dir else sub
                self._scan_dir(child, depth + 1, seen_files, seen_dirs, added)

    def _listing(self, rel_dir: str) -> _DirListing | None:
        path = self.root / rel_dir if rel_dir else self.root
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._dirs.get(rel_dir)
        if cached is not None and cached.mtime_ns == mtime_ns:
            return cached
        files: list[str] = []
        subdirs: list[str] = []
        try:
            with os.scandir(path) as items:
                for item in items:
                    # Hidden names are partial writes (Frigate's cache, rsync temporaries);
                    # links could point outside the folder the resident chose to share.
                    if item.name.startswith(".") or item.is_symlink():
                        continue
                    if item.is_dir(follow_symlinks=False):
                        subdirs.append(item.name)
                    elif Path(item.name).suffix.lower() in VIDEO_SUFFIXES:
                        files.append(item.name)
        except OSError:
            return None
        listing = _DirListing(mtime_ns, tuple(sorted(files)), tuple(sorted(subdirs)), fresh=True)
        self._dirs[rel_dir] = listing
        return listing

    def _index_file(self, rel: str, known: IndexEntry | None) -> IndexEntry | None:
        try:
            stat = (self.root / rel).stat()
        except OSError:
            return None
        if known is not None and (known.mtime_ns, known.size) == (stat.st_mtime_ns, stat.st_size):
            return known
        recording, reason, length_known = self._describe(PurePosixPath(rel))
        if reason is not None:
            # The file name only: logs get shared, and full paths say where people live.
            _LOGGER.warning("Skipping %s: %s", PurePosixPath(rel).name, reason)
        return IndexEntry(stat.st_mtime_ns, stat.st_size, recording, reason, length_known)

    def _describe(self, rel: PurePosixPath) -> tuple[Recording | None, str | None, bool]:
        """The file's recording, or why it was skipped; and whether its length is known."""
        parsed = parse_recording_name(rel, self._zone)
        try:
            times = probe_container(self.root / rel, self.settings.frame_rate)
        except UnreadableRecordingError as exc:
            return None, str(exc).removeprefix(f"{rel.name} "), True
        if parsed is not None:
            start, basis = parsed.start, f"file_name:{parsed.pattern}"
            zone = parsed.fixed_zone or self.settings.time_zone
        elif times.creation_time is not None:
            start, basis, zone = times.creation_time, "container:creation_time", "UTC"
        elif times.wallclock_start is not None:
            start, basis, zone = times.wallclock_start, "container:first_pts", "UTC"
        else:
            return None, "no start time in its name or its container", True
        device = self._device_for(rel, parsed)
        if device is None:
            return None, "no camera in its folder or its name", True
        # A recorder whose clock runs ahead stamps its files late by that much.
        true_start = (start - timedelta(seconds=self.settings.clock_offset_s)).astimezone(UTC)
        metadata = {
            "device": device,
            "file_name": rel.name,
            "time_basis": basis,
            "time_zone": zone,
            "clock_offset_s": _format_seconds(self.settings.clock_offset_s),
            "duration_s": _format_seconds(times.duration_s),
        }
        if times.raw and self.settings.frame_rate is not None:
            metadata["frame_rate"] = str(self.settings.frame_rate)  # redacted at this rate too
        recording = Recording(
            source="folder",
            device_id=device,
            recording_id=rel.as_posix(),
            start=true_start,
            end=true_start + timedelta(seconds=times.duration_s),
            metadata=metadata,
        )
        return recording, None, times.length_known

    def _device_for(self, rel: PurePosixPath, parsed: ParsedName | None) -> str | None:
        named = parsed.camera if parsed is not None else None
        if parsed is not None and parsed.pattern in _PATTERNS_WITH_CAMERA:
            return named
        folder = rel.parts[0] if len(rel.parts) > 1 else None
        if self.settings.layout is CameraLayout.SUBFOLDER:
            return folder or named
        return named or folder


_PATTERNS_WITH_CAMERA = frozenset({NamePattern.FRIGATE_RECORDING, NamePattern.FRIGATE_CLIP})


def _format_seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
