"""Reading a clip: checks that refuse bad input up front, then frame-accurate trimmed decoding."""

import itertools
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.container
import av.error
import av.sidedata.sidedata
import av.stream
import av.video

from gateway.redaction.decoded import DecodedFrame
from gateway.redaction.errors import InputError, timecode
from gateway.watchdog import alive

MAX_SIDE = 4096  # pixels; larger clips are refused rather than risking memory and time budgets
# A clip whose decoded frames stop this long before its declared length is treated as truncated.
TRUNCATION_SLACK_S = 1.0
# A timestamp this far behind the previous frame's starts a new timeline (recordings joined
# end to end); shorter steps back are repeated timestamps, and the frame is timed a frame later.
TIMESTAMP_RESTART_S = 1.0
# FFmpeg's AVFMT_NOTIMESTAMPS: a raw stream (.h264, .hevc, .mjpeg, as cheap recorders export),
# timed only by its frame rate: the one its codec states, else the one its demuxer assumes (25).
NO_TIMESTAMPS = 0x0080
# A frame rate given for a raw stream: from one frame in 1000 s (a time-lapse) to high-speed
# cameras' 960 frames a second.
FPS_RANGE = (Fraction(1, 1000), Fraction(1000))
# MPEG-PS stamps only some frames: after a seek it gives a keyframe the timestamp of a frame
# after it, so it is read from the start (as a raw stream is), and FFmpeg guesses its length
# from the bit rate.
SPARSE_TIMESTAMPS = frozenset({"mpeg"})
# Seek only when the window starts this far in; before that decoding from the start is cheaper.
SEEK_MIN_S = 2.0
# A seek aims at the start, then this many seconds before it while the keyframe it lands on is
# after the start; when every try lands late, the clip is read from its first packet.
SEEK_BACK_S = (0.0, 1.0, 4.0, 16.0)
MATROSKA_DURATION = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)")  # "00:01:02.500000000"


@dataclass(frozen=True)
class ClipInfo:
    """What the pipeline needs to know about the input's video stream."""

    width: int  # upright, as the clip is shown
    height: int
    time_base: Fraction
    first_pts: int
    rate: Fraction  # average frame rate (frames per second); VFR clips keep their own timestamps
    declared_duration_s: float | None
    # Quarter turns counterclockwise that stand the stored picture upright: phones store a
    # portrait clip sideways with a display rotation, which the output (no metadata) cannot keep.
    turns: int = 0
    # Mirrored left to right as stored, before it is turned (a display matrix with a flip, as
    # some front cameras and editing apps write).
    mirrored: bool = False
    pixel_aspect: Fraction = Fraction(1)  # width / height of one pixel as shown, upright
    # How the YUV values map to colour (FFmpeg's colorspace, primaries and transfer codes; 2 is
    # unspecified): an SD matrix unmarked in HD output would be read as BT.709, shifting hues.
    colour: tuple[int, int, int] = (2, 2, 2)
    # A raw stream that states no frame rate (MJPEG, H.264 without timing), timed at the 25 fps
    # its demuxer assumes: no window can be cut from it by time.
    rate_assumed: bool = False

    @property
    def even_size(self) -> tuple[int, int]:
        """H.264 yuv420p needs even dimensions; odd inputs are scaled down by one pixel."""
        return self.width & ~1, self.height & ~1


def seconds(value: float | None) -> Fraction | None:
    """Exact offset for comparisons: 12.5 -> 25/2, 0.1 -> 1/10 (microsecond resolution)."""
    return None if value is None else Fraction(value).limit_denominator(1_000_000)


class ClipReader:
    """An opened input clip; use as a context manager so the file is always closed. `fps`: the
    frame rate of a raw stream, which carries no timestamps (InputError for any other clip)."""

    def __init__(self, path: Path, fps: Fraction | None = None) -> None:
        if not path.exists():
            raise InputError("The clip file does not exist.")
        if not path.is_file():  # opening a pipe would wait for a writer, maybe for ever
            raise InputError("The input is not a clip file (it is a folder, a pipe or a device).")
        if path.stat().st_size == 0:
            raise InputError("The clip file is empty (0 bytes); export the recording again.")
        self._path, self._fps = path, fps
        self._container = self._open()
        self._raw = bool(self._container.format.flags & NO_TIMESTAMPS)
        try:
            if fps is not None and not self._raw:
                raise InputError(
                    "The clip carries its own timestamps; a frame rate can be given only for a "
                    "raw stream, which has none (MJPEG, H.264 or HEVC)."
                )
            self._stream = _recording(self._container)
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise

    def __enter__(self) -> "ClipReader":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._container.close()

    def _open(self) -> av.container.InputContainer:
        try:
            # Absolute: FFmpeg would read "cam:1.mp4" or "pipe:0" as a protocol and a resource.
            path = str(self._path.absolute())
            container = av.open(path, mode="r")
            if container.format.name == "image2" and _codec(container) == "mjpeg":
                # JPEGs one after another (picture.is_picture sends them here) named .jpg:
                # FFmpeg goes by the name and would read the first alone.
                container.close()
                container = av.open(path, mode="r", format="mjpeg")
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(
                "The clip cannot be read as video: its header is missing or damaged "
                "(the file may be truncated or not a video)."
            ) from exc
        return container

    def _probe(self) -> ClipInfo:
        stream = self._stream
        width, height = stream.codec_context.width, stream.codec_context.height
        if width > MAX_SIDE or height > MAX_SIDE:
            raise InputError(
                f"The clip is {width}x{height}; the largest we redact is {MAX_SIDE}x{MAX_SIDE}. "
                "Export it at a lower resolution."
            )
        first = self._first_frame()
        if first.width < 2 or first.height < 2:
            raise InputError("The clip's video frames are too small to be a camera recording.")
        turns, mirrored = orientation(first)
        aspect = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        pixel_aspect = Fraction(aspect.numerator, aspect.denominator) if aspect else Fraction(1)
        if turns % 2:
            pixel_aspect = 1 / pixel_aspect
        codec = stream.codec_context
        colour = (codec.colorspace, codec.color_primaries, codec.color_trc)
        rate = frame_rate(stream, self._raw, self._fps)
        if self._raw:  # frames are timed by their number (`frames`), on a clock of the rate's
            time_base, first_pts = raw_time_base(rate), 0
        else:
            rational = stream.time_base or Fraction(1, 90_000)
            time_base = Fraction(rational.numerator, rational.denominator)
            first_pts = first.pts if first.pts is not None else 0
        return ClipInfo(
            width=first.height if turns % 2 else first.width,
            height=first.width if turns % 2 else first.height,
            time_base=time_base,
            first_pts=first_pts,
            rate=rate,
            declared_duration_s=self._declared_length(first_pts * time_base),
            turns=turns,
            mirrored=mirrored,
            pixel_aspect=pixel_aspect,
            colour=colour,
            rate_assumed=rate_assumed(stream, self._raw, self._fps),
        )

    def _declared_length(self, first: Fraction) -> float | None:
        """How long the video says it is from its first frame `first` (seconds), to tell a
        truncated file; None when it does not say.

        What is declared is the video stream's end: its own duration where the container keeps
        one (MP4, MPEG-TS), else Matroska's per-stream DURATION tag (an end time, as FFmpeg
        writes it), else the container's duration (Matroska's is an end time too: all there is
        when the tag overflowed, far into the timeline), but only when the video is its one
        stream: otherwise that is the longest stream's, and audio recorded on after the video
        stopped would make a whole clip look truncated. A clip whose first frames cannot be
        decoded (a recording cut before a keyframe) is measured from the first frame that can.
        """
        stream, container = self._stream, self._container
        tag = next((v for k, v in stream.metadata.items() if k.upper().startswith("DURATION")), "")
        if stream.duration:
            start = stream.start_time if stream.start_time is not None else first / stream.time_base
            end = (start + stream.duration) * stream.time_base
        elif match := MATROSKA_DURATION.fullmatch(tag):
            hours, minutes, secs = match.groups()
            end = Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(secs)
        elif container.duration and len(container.streams) == 1:
            if container.format.name.startswith("matroska"):
                start = 0  # the segment's duration: its end, its timeline counted from zero
            elif container.start_time is not None:
                start = container.start_time
            else:
                start = first * 10**6
            end = Fraction(start + container.duration, 10**6)
        else:
            return None
        length = float(end - first)
        return length if length > 0 else None

    def _first_frame(self) -> av.VideoFrame:
        try:
            for frame in self._container.decode(self._stream):
                return frame
        except av.error.FFmpegError as exc:
            raise InputError(
                "The clip is corrupt at 00:00: its first frame cannot be decoded."
            ) from exc
        raise InputError(
            "The clip contains no video frames that can be decoded: it is cut short or damaged."
        )

    def frames(self, start_s: float | None, end_s: float | None) -> Iterator[DecodedFrame]:
        """Frames with start <= offset < end, in order, with strictly increasing timestamps."""
        info = self.info
        if info.rate_assumed and (start_s is not None or end_s is not None):
            raise InputError(
                "The clip is a raw stream that carries neither timestamps nor a frame rate "
                f"(it would be timed at an assumed {float(info.rate):g} frames a second), so no "
                "window can be cut from it by time: give its frame rate (redact --fps, or a "
                "folder source's --frame-rate), or export the recording in a container such "
                "as MP4."
            )
        start, end = seconds(start_s), seconds(end_s)
        last_pts: int | None = None
        last_offset = Fraction(0)
        step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
        starts = self._starts(start)
        packets = self._packets(next(starts), start)
        landing = start is not None  # the first frames decoded after a seek are still to come
        while True:
            try:
                frames = self._next_frames(packets)
            except av.error.FFmpegError as exc:
                raise InputError(
                    f"The clip is corrupt at {timecode(float(last_offset))}: "
                    "a frame there cannot be decoded."
                ) from exc
            if frames is None:
                break
            if landing and frames:
                landing = False
                if self._landed_late(frames[0], start):
                    retry = next(starts, None)
                    if retry is not None:
                        packets, landing = self._packets(retry, start), True
                        continue
            for frame in frames:
                pts = frame.pts
                if pts is None:  # raw streams (`_packets`), and some frames in MPEG-PS
                    pts = info.first_pts if last_pts is None else last_pts + step
                if last_pts is not None and pts <= last_pts:
                    if (last_pts - pts) * info.time_base > TIMESTAMP_RESTART_S:
                        raise InputError(
                            f"The clip's timestamps go back from "
                            f"{timecode(float(last_offset))} to "
                            f"{timecode(float(self._offset(pts)))}: it joins "
                            "recordings with separate timelines. Export each recording on its own."
                        )
                    # A repeated timestamp (MPEG-PS written with B-frames has them): the
                    # decoder gives frames in the order shown, so this one comes next.
                    pts = last_pts + step
                offset = self._offset(pts)
                last_pts, last_offset = pts, offset
                if start is not None and offset < start:
                    continue
                if end is not None and offset >= end:
                    return
                yield DecodedFrame(frame, pts, offset, info.turns, info.mirrored)
        self._check_complete(last_offset, end)

    def _packets(self, packets: Iterator[Any], start: Fraction | None) -> Iterator[Any]:
        """`packets`; before the window, frames no other frame refers to are skipped.

        Frames before the start are decoded only as references for the ones after it, so until
        the first packet shown at or after the start (packets come in decoding order, so every
        one before it is shown before the start) the decoder drops non-reference frames: about
        half of them, and more than half the decoding time, in H.264 with B-frames (such as the
        benchmark clips); streams without B-frames usually have none to drop.
        """
        context = self._stream.codec_context
        context.skip_frame = "NONREF" if start else "DEFAULT"
        for packet in packets:
            alive()  # the job's watchdog: decoding goes on (also before the window)
            if self._raw:  # timed by number (`frames`): MJPEG's demuxer makes times up at 25 fps
                packet.pts = packet.dts = None
            if start and (packet.pts is None or self._offset(packet.pts) >= start):
                context.skip_frame = "DEFAULT"
                start = None  # from here on every frame is decoded
            yield packet

    def _landed_late(self, first: av.VideoFrame, start: Fraction | None) -> bool:
        """True when the first frame decoded after a seek is shown after the window's start.

        A seek lands on a keyframe at or before the start, and the decoder shows that keyframe
        first, unless the stream refreshes its picture gradually (x264's intra refresh, as some
        cameras stream): its "keyframes" are only recovery points, and the decoder holds back
        the frames until the picture is whole again, up to a second or more later. The frames
        of the window in between would be lost, so the seek is tried further back.
        """
        if start is None or first.pts is None:
            return False
        return self._offset(first.pts) > start

    def _offset(self, pts: int) -> Fraction:
        """Seconds from the clip's first frame to the timestamp `pts`."""
        return (pts - self.info.first_pts) * self.info.time_base

    def _next_frames(self, packets: Iterator[Any]) -> list[av.VideoFrame] | None:
        """Decode the next packet (None once demuxing and the decoder flush are done)."""
        try:
            packet = next(packets)
        except StopIteration:
            return None
        return list(self._stream.codec_context.decode(packet))

    def _starts(self, start: Fraction | None) -> Iterator[Iterator[Any]]:
        """Where decoding can start, each further back than the one before: packets from a
        keyframe at or before `start`, and last from the clip's first packet.

        A seek only lands near the time asked: MP4 and Matroska land on the keyframe before it,
        but MPEG-TS (common from recorders) on the one after, which would lose every frame in
        between. So the packet a seek lands on is checked, and the seek tried further back when
        it is not a keyframe at or before the start. The caller asks for the next start when
        decoding from one shows frames only from after `start` (`_landed_late`).
        """
        info = self.info
        if (
            start is not None
            and start >= SEEK_MIN_S
            and not self._raw
            and self._container.format.name not in SPARSE_TIMESTAMPS
        ):
            earliest = None  # the keyframe decoding last started from
            for back in SEEK_BACK_S:
                if back >= start:
                    break
                target = info.first_pts + int((start - back) / info.time_base)
                self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
                self._stream.codec_context.flush_buffers()
                packets = self._container.demux(self._stream)
                landed = next(packets, None)
                if landed is None or landed.pts is None or not landed.is_keyframe:
                    continue
                if self._offset(landed.pts) > start:
                    continue
                if earliest is None or landed.pts < earliest:
                    earliest = landed.pts
                    yield itertools.chain([landed], packets)
        # From the first packet: a seek to the clip's first timestamp may land late too.
        reopened = self._open()
        self._container.close()
        self._container, self._stream = reopened, _recording(reopened)
        yield self._container.demux(self._stream)

    def _check_complete(self, last_offset: Fraction, end: Fraction | None) -> None:
        declared = self.info.declared_duration_s
        if declared is None:
            return
        wanted = declared if end is None else min(float(end), declared)
        if float(last_offset) + TRUNCATION_SLACK_S < wanted:
            raise InputError(
                f"The clip stops at {timecode(float(last_offset))} although it claims to be "
                f"{timecode(declared)} long; it is truncated. Export the recording again."
            )


def orientation(frame: av.VideoFrame) -> tuple[int, bool]:
    """How to stand a stored picture upright, from its display matrix: (quarter turns
    counterclockwise, whether to mirror it left to right first).

    FFmpeg's rotation ignores a flip in the matrix (a mirrored picture came out upside down,
    not mirrored back); the matrix is a signed permutation [[a, b], [c, d]], mirrored when its
    determinant is negative, and what is left once the mirroring is taken out is a turn.
    """
    matrix = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    if matrix is None:
        return 0, False
    a, b, _, c, d = struct.unpack("=5i", bytes(matrix)[:20])  # 16.16 fixed point
    mirrored = a * d - b * c < 0
    if mirrored:
        a, b = -a, -b
    return round(-math.degrees(math.atan2(b, a)) / 90) % 4, mirrored


def frame_rate(stream: av.video.VideoStream, raw: bool, given: Fraction | None = None) -> Fraction:
    """Frames per second: the stream's average (FFmpeg's guess, else 30, when it states none);
    for a raw stream the rate `given` for it, else the rate its codec states, where its demuxer
    assumes 25."""
    if raw and given is not None:
        return given
    rate = stream.average_rate or stream.guessed_rate or Fraction(30)
    if raw:
        rate = stream.codec_context.framerate or rate
    return Fraction(rate.numerator, rate.denominator)


def rate_assumed(stream: av.video.VideoStream, raw: bool, given: Fraction | None) -> bool:
    """Whether `frame_rate` is only the 25 fps a raw stream's demuxer assumes: none was given
    and its codec states none (MJPEG, H.264 without timing), so its frames' times are unknown."""
    return raw and given is None and not stream.codec_context.framerate


def check_frame_rate(rate: Fraction) -> None:
    """ValueError, with the sentence a resident sees, for a rate given outside FPS_RANGE."""
    low, high = FPS_RANGE
    if not low <= rate <= high:
        raise ValueError(
            f"The frame rate must be {float(low):g} to {float(high):g} frames a second."
        )


def raw_time_base(rate: Fraction) -> Fraction:
    """The clock of a raw stream's frames: each frame an exact whole number of ticks, and at
    least 10000 ticks a second, as FFmpeg's MP4 muxer would choose (on a raw demuxer's own
    clock, 1.2 MHz, 29.97 fps is inexact, and the MP4 muxer fails at 0.002 fps and below)."""
    ticks = rate.numerator * -(-10_000 // rate.numerator)  # a multiple of the numerator
    return Fraction(1, ticks)


def _codec(container: av.container.InputContainer) -> str | None:
    video = container.streams.video
    return video[0].codec_context.name if video and video[0].codec_context else None


def _recording(container: av.container.InputContainer) -> av.video.VideoStream:
    """The recording: FFmpeg's best video stream, as its own tools choose (a cover picture or a
    thumbnail track stored before it is passed over)."""
    stream = container.streams.best("video")
    if not isinstance(stream, av.video.VideoStream) or stream.codec_context is None:
        if container.streams.audio and stream is None:
            raise InputError("The clip has no video stream (it is audio only).")
        raise InputError(
            "The clip has no video stream: its header is damaged or cut short, "
            "or it is not a recording."
        )
    if av.stream.Disposition.attached_pic in stream.disposition:  # best only when alone
        raise InputError("The clip has no video stream, only a cover picture (it is audio).")
    stream.thread_type = "AUTO"
    return stream
