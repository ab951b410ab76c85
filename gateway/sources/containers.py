"""Reading a video container's start time and duration with PyAV (blocking; run in a thread)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av

from gateway.redaction.video_input import (
    NO_TIMESTAMPS,
    SPARSE_TIMESTAMPS,
    frame_rate,
    rate_assumed,
)

from .base import SourceError

# Before this moment a container time is an unset camera clock, not a real recording time.
_EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)


class UnreadableRecordingError(SourceError):
    """A file in a footage folder is not a readable video (corrupt, truncated or not video)."""


@dataclass(frozen=True)
class ContainerTimes:
    """What the container says about when and how long it recorded."""

    creation_time: datetime | None  # from the container's creation_time tag, aware UTC
    wallclock_start: datetime | None  # first pts when the muxer stored wall-clock time
    duration_s: float
    raw: bool = False  # a raw stream (.h264, .hevc, .mjpeg): no timestamps, timed by its rate
    # False for a raw stream with no rate given or stated: timed at FFmpeg's assumed 25 fps,
    # so how long it lasts is unknown.
    length_known: bool = True


def probe_container(path: Path, raw_rate: Fraction | None = None) -> ContainerTimes:
    """Open `path`, check it has a video stream and return its times; raise if unreadable. A
    raw stream is timed at `raw_rate` when given, else at the rate its codec states."""
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams.best("video")  # as FFmpeg's tools choose
            if not isinstance(stream, av.VideoStream):
                raise UnreadableRecordingError(f"{path.name} has no video stream")
            if raw := bool(container.format.flags & NO_TIMESTAMPS):
                # No times at all: its frames at the rate the redaction reads them.
                frames, decodes = _raw_frames(container, stream)
                if frames and not decodes:
                    raise UnreadableRecordingError(
                        f"{path.name} could not be read as video (no frame of it decodes)"
                    )
                duration = float(frames / frame_rate(stream, raw, raw_rate))
            else:
                duration = _duration_s(container, stream)
            known = not rate_assumed(stream, raw, raw_rate)
            creation = _parse_tag(container.metadata.get("creation_time"))
            wallclock = _wallclock_start(container.start_time)
    except UnreadableRecordingError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        # strerror only: FFmpeg's full message repeats the file's path.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        message = f"{path.name} could not be read as video ({reason})"
        raise UnreadableRecordingError(message) from exc
    if duration <= 0:
        raise UnreadableRecordingError(f"{path.name} holds no frames")
    return ContainerTimes(creation, wallclock, duration, raw, known)


def _raw_frames(
    container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[int, bool]:
    """How many frames a raw stream holds (its packets), and whether any of them decodes: a
    raw demuxer takes any bytes for packets (a text file named .mjpeg was one)."""
    packets, pictured = 0, False
    for packet in container.demux(stream):
        if packet.size:
            packets += 1
            if not pictured:  # until one does: a cut stream decodes from its next keyframe
                try:
                    pictured = bool(stream.codec_context.decode(packet))
                except av.FFmpegError:
                    continue
    if not pictured:
        try:
            pictured = bool(stream.codec_context.decode(None))  # frames the decoder held back
        except av.FFmpegError:
            pass
    return packets, pictured


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    # MPEG-PS's declared length is a guess from its bit rate (a 3 s export read as 1.4 s).
    if container.format.name not in SPARSE_TIMESTAMPS:
        if container.duration:
            return float(container.duration) / av.time_base
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    # Streams without an index (raw MPEG-TS) need a demux pass to find the last timestamp, in
    # decoding order (a B-frame's display time jumps back and forth); a packet without one
    # follows the packet before it.
    first: float | None = None
    last = 0.0
    after: float | None = None  # where the packet before ended
    for packet in container.demux(stream):
        if packet.time_base is None or not packet.size:
            continue
        stamp = packet.pts if packet.dts is None else packet.dts
        at = after if stamp is None else float(stamp * packet.time_base)
        if at is None:
            continue
        after = at + float((packet.duration or 0) * packet.time_base)
        first = at if first is None else min(first, at)
        last = max(last, after)
    return last - first if first is not None else 0.0


def _parse_tag(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # The MP4/MOV creation_time is defined in UTC; a tag without an offset means UTC.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment if moment >= _EARLIEST_PLAUSIBLE else None


def _wallclock_start(start_time: int | None) -> datetime | None:
    if not start_time:
        return None
    moment = datetime.fromtimestamp(start_time / av.time_base, UTC)
    return moment if moment >= _EARLIEST_PLAUSIBLE else None
