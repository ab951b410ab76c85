"""Test clips generated with PyAV: each frame carries its index as a row of black/white blocks."""

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

BITS = 10  # frame indices up to 1023
Frame = npt.NDArray[np.uint8]
MakeClip = Callable[..., Path]


def index_frame(index: int, width: int, height: int) -> Frame:
    """A grey RGB frame whose top band encodes `index` in binary, readable after lossy coding."""
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    block = width // BITS
    band = max(2, min(height // 4, block))
    for bit in range(BITS):
        value = 255 if index >> bit & 1 else 0
        frame[:band, bit * block : (bit + 1) * block] = value
    return frame


def read_index(frame: Frame) -> int:
    """Decode the index drawn by `index_frame` from an RGB frame."""
    height, width = frame.shape[:2]
    block = width // BITS
    band = max(2, min(height // 4, block))
    index = 0
    for bit in range(BITS):
        centre = frame[
            band // 4 : band * 3 // 4, bit * block + block // 4 : (bit + 1) * block - block // 4
        ]
        if centre.mean() > 128:
            index |= 1 << bit
    return index


def write_clip(
    path: Path,
    *,
    frames: int = 60,
    width: int = 320,
    height: int = 240,
    rate: int = 30,
    audio: bool = False,
    metadata: dict[str, str] | None = None,
    pts: Sequence[int] | None = None,
    gop: int = 12,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    bframes: int = 0,
    painter: Callable[[int, int, int], Frame] = index_frame,
    container: str = "mp4",
    rotation: int = 0,
    pixel_aspect: Fraction | None = None,
    colour: tuple[int, int, int] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip (MP4 unless `container` names another FFmpeg muxer); `pts` (in 1/rate units)
    gives variable frame timing when set. With `rotation` (degrees counterclockwise, a multiple
    of 90) the painted picture is stored turned back, with a display rotation, as phones do.
    `options` go to the encoder as well."""
    with av.open(str(path), "w", format=container) as out:
        out.metadata.update(metadata or {})
        video = out.add_stream(
            codec,
            rate=rate,
            options={"g": str(gop), "preset": "ultrafast", "bf": str(bframes)} | (options or {}),
        )
        assert isinstance(video, av.VideoStream)
        turns = rotation // 90
        video.width, video.height = (height, width) if turns % 2 else (width, height)
        video.pix_fmt = pix_fmt
        if rotation:
            video.set_display_rotation(rotation)
        if pixel_aspect is not None:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        if colour is not None:  # FFmpeg's colorspace, primaries and transfer codes
            context = video.codec_context
            context.colorspace, context.color_primaries, context.color_trc = colour
        video.codec_context.time_base = Fraction(1, rate)
        sound = out.add_stream("aac", rate=48_000) if audio else None
        for index in range(frames):
            picture = np.ascontiguousarray(np.rot90(painter(index, width, height), -turns))
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = pts[index] if pts is not None else index
            out.mux(video.encode(frame))
            if sound is not None:
                samples = np.zeros((1, 1600), dtype=np.float32)
                chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                chunk.sample_rate = 48_000
                chunk.pts = index * 1600
                out.mux(sound.encode(chunk))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def decode_all(path: Path) -> tuple[list[Frame], list[float]]:
    """Every frame of a clip as RGB with its time in seconds."""
    frames: list[Frame] = []
    times: list[float] = []
    with av.open(str(path)) as clip:
        for frame in clip.decode(clip.streams.video[0]):
            frames.append(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8))
            times.append(float(frame.time or 0.0))
    return frames, times


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """Factory writing clips under the test's temporary folder."""

    def make(name: str = "clip.mp4", **options: object) -> Path:
        return write_clip(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


def redacting_in_two_processes(src: Path, out: Path, *options: str) -> subprocess.Popen[bytes]:
    """`gateway redact SRC OUT/o.mp4 OPTIONS` started, once both segment processes are encoding
    (their partial files are in the folder `out`); its standard error is piped."""
    command = [sys.executable, "-m", "gateway", "redact", str(src), str(out / "o.mp4"), *options]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)  # noqa: S603 - our own module
    deadline = time.monotonic() + 60
    while len(list(out.iterdir())) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.communicate()
            raise AssertionError("the redaction ended or took over 60 s to start both segments")
        time.sleep(0.01)
    return process
