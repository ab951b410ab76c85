"""Start times and camera names read from recording file names (pure; no file access)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from pathlib import PurePosixPath

# Containers, plus MPEG-PS and the raw H.264, H.265 and MJPEG streams some recorders export.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".ts", ".avi", ".webm", ".mpg", ".mpeg"}
    | {".h264", ".264", ".hevc", ".h265", ".265", ".mjpeg", ".mjpg"}
)


class NamePattern(StrEnum):
    """The file-name conventions the folder source understands."""

    FRIGATE_RECORDING = "frigate_recording"  # recordings/YYYY-MM-DD/HH/<camera>/MM.SS.mp4, UTC
    FRIGATE_CLIP = "frigate_clip"  # <camera>-<unix_ts>.<frac>-<id>.mp4, absolute
    HIKVISION = "hikvision"  # ch01_YYYYMMDDHHMMSS.mp4, local time
    DATE_TIME = "date_time"  # <anything>_YYYYMMDD_HHMMSS, YYYYMMDD-HHMMSS, YYYY-MM-DD_HH-MM-SS


@dataclass(frozen=True)
class ParsedName:
    """What a file name says: when the recording starts and, if named, which camera."""

    pattern: NamePattern
    start: datetime  # aware
    camera: str | None
    fixed_zone: str | None  # the zone the name itself fixes ("UTC", "+01:00"); None: configured


_FRIGATE_DIRS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FRIGATE_FILE = re.compile(r"^(\d{2})\.(\d{2})\.[A-Za-z0-9]+$")
_FRIGATE_CLIP = re.compile(
    r"^(?P<camera>.+?)-(?P<ts>\d{9,11})\.(?P<frac>\d{1,6})-(?P<id>[A-Za-z0-9]+)$"
)
_HIKVISION = re.compile(r"^(?P<camera>ch\d{1,3})_(?P<ts>\d{14})(?:_\d{14})?$", re.IGNORECASE)
_OFFSET = r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
_COMPACT = re.compile(
    r"(?<!\d)(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})[_T-](?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?!\d)"
    + _OFFSET
)
_SPACED = re.compile(
    r"(?<!\d)(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[_T ](?P<h>\d{2})[-:.](?P<mi>\d{2})[-:.]"
    r"(?P<s>\d{2})(?!\d)" + _OFFSET
)


def parse_recording_name(relative: PurePosixPath, zone: tzinfo) -> ParsedName | None:
    """Read a start time (and camera) from a path relative to the folder; None if no pattern fits.

    Times without an offset are read in `zone`; for an ambiguous local time (the hour the
    clocks go back) the first occurrence is taken.
    """
    return (
        _frigate_recording(relative)
        or _frigate_clip(relative.stem)
        or _hikvision(relative.stem, zone)
        or _date_time(relative.stem, zone)
    )


def _frigate_recording(relative: PurePosixPath) -> ParsedName | None:
    parts = relative.parts
    if len(parts) < 4:
        return None
    day, hour, camera, name = parts[-4:]
    day_match, file_match = _FRIGATE_DIRS.match(day), _FRIGATE_FILE.match(name)
    if not day_match or not file_match or not re.fullmatch(r"\d{2}", hour):
        return None
    start = _build(
        int(day_match[1]), int(day_match[2]), int(day_match[3]),
        int(hour), int(file_match[1]), int(file_match[2]), UTC,
    )
    if start is None:
        return None
    return ParsedName(NamePattern.FRIGATE_RECORDING, start, camera, fixed_zone="UTC")


def _frigate_clip(stem: str) -> ParsedName | None:
    match = _FRIGATE_CLIP.match(stem)
    if not match:
        return None
    seconds = int(match["ts"]) + int(match["frac"]) / 10 ** len(match["frac"])
    start = datetime.fromtimestamp(seconds, UTC)
    if start.year < 2000:
        return None
    return ParsedName(NamePattern.FRIGATE_CLIP, start, match["camera"], fixed_zone="UTC")


def _hikvision(stem: str, zone: tzinfo) -> ParsedName | None:
    match = _HIKVISION.match(stem)
    if not match:
        return None
    ts = match["ts"]
    start = _build(
        int(ts[0:4]), int(ts[4:6]), int(ts[6:8]),
        int(ts[8:10]), int(ts[10:12]), int(ts[12:14]), zone,
    )
    if start is None:
        return None
    return ParsedName(NamePattern.HIKVISION, start, match["camera"].lower(), fixed_zone=None)


def _date_time(stem: str, zone: tzinfo) -> ParsedName | None:
    match = _COMPACT.search(stem) or _SPACED.search(stem)
    if not match:
        return None
    explicit = _offset(match["tz"])
    start = _build(
        int(match["y"]), int(match["mo"]), int(match["d"]),
        int(match["h"]), int(match["mi"]), int(match["s"]), explicit or zone,
    )
    if start is None:
        return None
    camera = stem[: match.start()].strip("_-. ") or None
    fixed = None if explicit is None else _zone_label(match["tz"])
    return ParsedName(NamePattern.DATE_TIME, start, camera, fixed_zone=fixed)


def _zone_label(text: str) -> str:
    if text == "Z":
        return "UTC"
    digits = text[1:].replace(":", "")
    return f"{text[0]}{digits[:2]}:{digits[2:]}"


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(delta if text[0] == "+" else -delta)


def _build(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: tzinfo
) -> datetime | None:
    # Digits that look like a date but are not one (month 13, 25 o'clock) mean "no pattern".
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
    return moment if 2000 <= moment.year <= 2100 else None
