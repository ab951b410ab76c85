"""redact(): trimming, stripping, masks, output format (masks-only profile: no detectors)."""

import math
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from gateway.redaction.errors import InputError
from gateway.redaction.pipeline import RedactionError, RedactionJob, redact, remove_leftovers
from gateway.redaction.regions import Polygon
from gateway.workers import RestartingPool, TimeLimitExceeded, run_in_worker
from tests.gateway.redaction.conftest import (
    Frame,
    MakeClip,
    decode_all,
    index_frame,
    read_index,
)


def job(src: Path, dst: Path, **options: object) -> RedactionJob:
    return RedactionJob(src, dst, profile="masks-only", **options)  # type: ignore[arg-type]


def test_whole_clip_is_reencoded_as_browser_playable_h264(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    src = make_clip(frames=45)
    report = redact(job(src, tmp_path / "out.mp4"))
    assert (report.frames, report.width, report.height) == (45, 320, 240)
    assert report.duration_s == pytest.approx(1.5)
    with av.open(str(tmp_path / "out.mp4")) as out:
        stream = out.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (320, 240)
        assert len(out.streams.audio) == 0
    data = (tmp_path / "out.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart
    frames, times = decode_all(tmp_path / "out.mp4")
    assert [read_index(f) for f in frames] == list(range(45))
    assert times[0] == 0.0


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        (1.0, 2.0, 30, 59),
        (0.51, 1.0, 16, 29),
        (None, 0.5, 0, 14),
        (3.5, None, 105, 149),
        (2.999, 3.0, 90, 89),
    ],
)
def test_trim_is_frame_accurate(
    make_clip: MakeClip,
    tmp_path: Path,
    start: float | None,
    end: float | None,
    first: int,
    last: int,
) -> None:
    src = make_clip(frames=150, gop=40)  # 5 s; starts >= 2 s take the seek path
    out = tmp_path / "out.mp4"
    if last < first:
        with pytest.raises(RedactionError, match="no video frames"):
            redact(job(src, out, start_s=start, end_s=end))
        assert not out.exists()
        return
    report = redact(job(src, out, start_s=start, end_s=end))
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(first, last + 1))
    assert report.frames == last - first + 1
    assert times[0] == 0.0


def test_audio_metadata_and_encoder_strings_are_removed(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    secrets = {
        "title": "Front door of 12 Elm St",
        "location": "+41.4993-081.6944/",
        "creation_time": "2026-11-20T21:14:03.000000Z",
        "comment": "Ring 0xDEADBEEF",
    }
    src = make_clip(audio=True, metadata=secrets)
    raw = src.read_bytes()
    assert b"x264" in raw and b"Lavf" in raw and b"Elm St" in raw  # the test input really leaks
    out = tmp_path / "out.mp4"
    redact(job(src, out))
    data = out.read_bytes()
    for leak in (b"x264", b"Lavf", b"Elm St", b"+41.4993", b"DEADBEEF", b"encoder"):
        assert leak not in data
    with av.open(str(out)) as clip:
        assert len(clip.streams.audio) == 0 and len(clip.streams) == 1
        assert set(clip.metadata) <= {"major_brand", "minor_version", "compatible_brands"}
        assert "creation_time" not in clip.streams.video[0].metadata


def test_privacy_mask_is_filled_solid_and_nothing_else_is(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    def white(index: int, width: int, height: int) -> np.ndarray:
        return np.full((height, width, 3), 235, dtype=np.uint8)

    src = make_clip(frames=10, painter=white)
    out = tmp_path / "out.mp4"
    triangle = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0))
    redact(job(src, out, masks=(((0.0, 0.0), (0.25, 0.0), (0.25, 0.25), (0.0, 0.25)), triangle)))
    for frame in decode_all(out)[0]:
        assert frame[2:58, 2:78].max() < 40  # square mask, inside its edges
        assert frame[122:160, 282:318].max() < 40  # triangle, near its right angle (top right)
        assert frame[130:236, 10:150].min() > 200  # lower-left quarter untouched
        assert frame[10:50, 120:310].min() > 200  # top band outside the square untouched


def test_overlapping_and_nested_masks_are_filled_where_they_overlap(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Filled in one call, OpenCV would fill by parity: an overlap, or a mask inside another,
    # would come out as the original picture.
    src = make_clip(frames=3, painter=lambda i, w, h: np.full((h, w, 3), 235, dtype=np.uint8))
    out = tmp_path / "out.mp4"

    def square(x0: float, y0: float, x1: float, y1: float) -> Polygon:
        return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))

    masks = (square(0.1, 0.1, 0.6, 0.6), square(0.4, 0.4, 0.9, 0.9), square(0.2, 0.2, 0.3, 0.3))
    redact(job(src, out, masks=masks))
    for frame in decode_all(out)[0]:  # 320 x 240
        assert frame[110:130, 140:180].max() < 40  # where the first two overlap
        assert frame[55:65, 70:90].max() < 40  # the small square inside the first
        assert frame[180:230, 10:90].min() > 200  # outside every mask: untouched


def test_odd_sized_input_gives_even_output(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=5, width=321, height=241, pix_fmt="yuv444p")
    report = redact(job(src, tmp_path / "out.mp4"))
    assert (report.width, report.height) == (320, 240)
    with av.open(str(tmp_path / "out.mp4")) as clip:
        assert (clip.streams.video[0].width, clip.streams.video[0].height) == (320, 240)


def test_sizes_whose_chroma_planes_start_mid_row_are_masked_in_place(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # 202x118: the height is not a multiple of 4, so in the yuv420p array the V plane starts
    # part-way along a row (this used to stop the job with a NumPy error).
    def red(index: int, width: int, height: int) -> np.ndarray:
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = 220
        return frame

    src = make_clip(frames=5, width=202, height=118, painter=red)
    out = tmp_path / "out.mp4"
    left_half = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
    report = redact(job(src, out, masks=(left_half,)))
    assert (report.width, report.height, report.frames) == (202, 118, 5)
    for frame in decode_all(out)[0]:
        assert frame[4:114, 4:96].max() < 40  # masked: black, no colour left
        right = frame[4:114, 106:198].astype(int)
        assert right[..., 0].min() > 180 and right[..., 1:].max() < 60  # still red


def test_variable_frame_rate_keeps_each_frame_and_its_timing(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    pts = [0, 1, 2, 5, 6, 10, 11, 12, 20, 21]  # gaps, as a motion-triggered camera writes
    src = make_clip(frames=len(pts), pts=pts)
    out = tmp_path / "out.mp4"
    report = redact(job(src, out, start_s=0.05))  # drops the frames at 0 and 1/30 s
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(2, 10))
    assert times == pytest.approx([(p - 2) / 30 for p in pts[2:]], abs=1e-3)
    assert report.frames == 8


def test_preview_contact_sheet_is_written(make_clip: MakeClip, tmp_path: Path) -> None:
    from PIL import Image

    src = make_clip(frames=90)
    preview = tmp_path / "sheet.png"
    redact(job(src, tmp_path / "out.mp4", preview=preview))
    with Image.open(preview) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * 320, 3 * (240 + 18))


def test_progress_reaches_one_and_never_goes_back(make_clip: MakeClip, tmp_path: Path) -> None:
    seen: list[float] = []
    redact(job(make_clip(frames=30), tmp_path / "out.mp4"), progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 30


@pytest.mark.parametrize(("start", "end"), [(None, None), (0.5, 7.7), (1.0, None)])
def test_long_clips_split_into_segments_join_seamlessly(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    src = make_clip(frames=240, gop=45)  # 8 s: long enough for two segment processes
    out = tmp_path / "out.mp4"
    preview = tmp_path / "p.png"
    report = redact(job(src, out, start_s=start, end_s=end, preview=preview))
    first = round((start or 0) * 30)
    last = round((end or 8) * 30) - 1
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(first, last + 1))
    assert times == pytest.approx([i / 30 for i in range(last - first + 1)], abs=1e-3)
    assert report.frames == last - first + 1
    assert report.duration_s == pytest.approx((last - first + 1) / 30)
    assert b"x264" not in out.read_bytes() and b"Lavf" not in out.read_bytes()
    assert preview.is_file()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_skipping_unreferenced_frames_before_the_start_changes_no_frame_after_it(
    make_clip: MakeClip,
) -> None:
    from gateway.redaction.video_input import ClipReader

    src = make_clip(frames=240, gop=120, bframes=3)
    with av.open(str(src)) as clip:
        stream = clip.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        assert sum(1 for _ in clip.decode(stream)) < 200  # the clip has frames to skip
    with ClipReader(src) as reader:
        every = [(d.pts, d.frame.to_ndarray()) for d in reader.frames(None, None)]
    with ClipReader(src) as reader:
        trimmed = [(d.pts, d.frame.to_ndarray()) for d in reader.frames(5.5, 7.0)]
    wanted = every[165:210]
    assert [pts for pts, _ in trimmed] == [pts for pts, _ in wanted]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(trimmed, wanted, strict=True))


def test_the_pipeline_runs_numpy_without_a_blas_thread_pool() -> None:
    # OpenBLAS starts a spinning thread per core when NumPy loads; every `redact` process (the
    # command, its fork server, the worker) would pay for it.
    probe = "import gateway.redaction, numpy, os; print(len(os.listdir('/proc/self/task')))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(  # noqa: S603 - our own package
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"


def test_a_redaction_killed_mid_clip_leaves_nothing_once_its_leftovers_are_removed(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # As the kernel kills the gateway's worker when memory runs out (or its time limit ends
    # it): the job cannot clean up after itself, so the gateway calls remove_leftovers.
    src = make_clip(frames=1800)  # a minute: two segment processes, busy for seconds
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()
    killed = RedactionJob(src, out, preview=out.parent / "sheet.png")  # standard profile
    pool = RestartingPool(multiprocessing.get_context("spawn"))
    try:
        running = pool.submit(redact, killed)
        deadline = time.monotonic() + 60
        while len(list(out.parent.iterdir())) < 2:  # both segments are encoding
            assert not running.done() and time.monotonic() < deadline
            time.sleep(0.01)
        [worker] = pool.pids()
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            running.result(timeout=60)
    finally:
        pool.shutdown()
    left = [p.name for p in out.parent.iterdir()]
    assert len(left) >= 2 and all(name.endswith(".partial") for name in left), left
    remove_leftovers(killed)
    assert list(out.parent.iterdir()) == []


def grain_then_grey(index: int, width: int, height: int) -> Frame:
    """Ten seconds of random pixels, slow to decode and encode, then still grey, quick."""
    if index < 300:
        return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.full((height, width, 3), 128, np.uint8)


async def test_a_redaction_longer_than_its_stall_limit_is_not_stopped_while_it_goes_on(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Every stage tells the watchdog it goes on: model loading in both segment processes,
    # decoding, the join, the contact sheet and the hashes; and the second half, done seconds
    # before the first, waits for it for longer than the stall limit (5-6 s of 7-8).
    # A stall limit of 3 s ends a job 2-3 s after its last sign of progress (watchdog.py):
    # with 2 s, a step that a loaded machine stretched past 1 s was enough.
    stall_s = 3.0
    src = make_clip(frames=600, width=640, height=360, painter=grain_then_grey)
    job = RedactionJob(src, tmp_path / "out.mp4", preview=tmp_path / "sheet.png")
    pool = RestartingPool(multiprocessing.get_context("spawn"))
    try:
        started = time.monotonic()
        report = await run_in_worker(pool, 600, redact, job, stall_s=stall_s)
        took = time.monotonic() - started
    except TimeLimitExceeded as stopped:  # where it stood still, to mend the stage it names
        pytest.fail(f"stopped as stalled; its stacks:\n{stopped.stacks}")
    finally:
        pool.shutdown()
    assert report.frames == 600 and took > stall_s


def test_segments_keep_variable_frame_timing(make_clip: MakeClip, tmp_path: Path) -> None:
    pts = sorted({i * 2 + (i % 3) for i in range(150)})  # ~10 s with irregular gaps
    src = make_clip(frames=len(pts), pts=pts)
    out = tmp_path / "out.mp4"
    redact(job(src, out))
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(len(pts)))
    assert times == pytest.approx([p / 30 for p in pts], abs=1e-3)


@pytest.mark.parametrize(("start", "end"), [(None, None), (2.5, 7.0), (0.5, 1.0)])
def test_b_frame_input_trims_and_joins_exactly(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    src = make_clip(frames=240, gop=40, bframes=3)  # decode order differs from display order
    with av.open(str(src)) as clip:
        assert clip.streams.video[0].codec_context.has_b_frames
    out = tmp_path / "out.mp4"
    redact(job(src, out, start_s=start, end_s=end))
    first, last = round((start or 0) * 30), round((end or 8) * 30) - 1
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(first, last + 1))
    assert times[0] == 0.0


@pytest.mark.parametrize("container", ["mpegts", "matroska"])
@pytest.mark.parametrize(("start", "end"), [(None, None), (2.5, 7.0), (0.5, 1.0), (4.1, None)])
def test_containers_whose_seeks_land_late_still_trim_and_join_exactly(
    make_clip: MakeClip, tmp_path: Path, container: str, start: float | None, end: float | None
) -> None:
    # An NVR's MPEG-TS recording: a seek there lands on the keyframe after the asked time, not
    # the one before (the first GOP and each segment's first frames were silently lost).
    src = make_clip("clip.ts", frames=240, gop=45, bframes=2, container=container)
    assert_trimmed_exactly(src, tmp_path / "out.mp4", start, end, 8.0)


def assert_trimmed_exactly(
    src: Path,
    out: Path,
    start: float | None,
    end: float | None,
    length_s: float,
    *,
    timed: bool = True,
) -> None:
    """The redacted window holds each of its frames once, in order, and (`timed`) on time."""
    report = redact(job(src, out, start_s=start, end_s=end))
    first, last = round((start or 0) * 30), round((end or length_s) * 30) - 1
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(first, last + 1))
    assert report.frames == last - first + 1
    if timed:
        assert times == pytest.approx([i / 30 for i in range(last - first + 1)], abs=1e-3)


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
@pytest.mark.parametrize(("start", "end"), [(None, None), (2.5, 5.0), (3.0, None)])
def test_a_stream_refreshed_gradually_trims_and_joins_exactly(
    make_clip: MakeClip, tmp_path: Path, container: str, start: float | None, end: float | None
) -> None:
    # x264's intra refresh (as some cameras stream) has no whole keyframes after the first: a
    # seek lands on a recovery point, and the decoder shows nothing until the picture is whole
    # again, 18 frames later here, which were silently lost after every seek and at the split.
    src = make_clip(
        "clip.mp4", frames=240, gop=30, container=container, options={"intra-refresh": "1"}
    )
    assert_trimmed_exactly(src, tmp_path / "out.mp4", start, end, 8.0)


@pytest.mark.parametrize(("start", "end"), [(None, None), (1.0, 3.0), (2.9, 3.5)])
def test_mpeg_ps_keeps_every_frame_and_trims_without_seeking(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    # FFmpeg writes H.264 with B-frames into MPEG-PS (.mpg) with timestamps on only some frames,
    # some of them a frame or more wrong: frame 117 repeated an earlier timestamp and was
    # dropped, and a seek to 2.9 s landed on a keyframe stamped with a later frame's time.
    src = make_clip("clip.mpg", frames=120, gop=12, bframes=2, container="mpeg")
    assert_trimmed_exactly(src, tmp_path / "out.mp4", start, end, 4.0, timed=False)


@pytest.mark.parametrize(("start", "end"), [(None, None), (2.9, 3.5)])
def test_a_raw_h264_stream_is_timed_at_the_rate_its_codec_states(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    # A recorder's raw .h264 export has no timestamps; FFmpeg's demuxer assumes 25 fps, where
    # the stream itself says 30, so a 4 s clip came out 4.8 s long and trims missed their frames.
    src = make_clip("clip.h264", frames=120, gop=12, bframes=2, container="h264")
    assert_trimmed_exactly(src, tmp_path / "out.mp4", start, end, 4.0)


def raw_mjpeg(make_clip: MakeClip) -> Path:
    """A doorbell's 4 s at 10 fps as JPEGs one after another: nothing in it says how fast."""
    return make_clip(
        "door.mjpeg", frames=40, rate=10, codec="mjpeg", pix_fmt="yuvj420p", container="mjpeg"
    )


@pytest.mark.parametrize(
    ("source", "fps", "start", "end"),
    [
        ("door.mjpeg", Fraction(10), None, None),
        ("door.mjpeg", Fraction(10), 1.0, 2.5),
        ("clip.h264", Fraction(10), 1.0, 2.5),  # it states 30 fps, but was recorded at 10
        ("door.mjpeg", Fraction(30000, 1001), 0.5, 1.0),
    ],
    ids=["mjpeg", "mjpeg-window", "h264-window", "mjpeg-29.97"],
)
def test_a_raw_stream_is_timed_at_the_frame_rate_given(
    make_clip: MakeClip,
    tmp_path: Path,
    source: str,
    fps: Fraction,
    start: float | None,
    end: float | None,
) -> None:
    # FFmpeg's demuxer times JPEGs at 25 fps: a camera's 10 fps recording played 2.5 times too
    # fast and a window picked the wrong frames, with no way to say otherwise.
    src = raw_mjpeg(make_clip) if source == "door.mjpeg" else make_clip(source, container="h264")
    out = tmp_path / "out.mp4"
    report = redact(RedactionJob(src, out, start, end, profile="masks-only", fps=fps))
    length = 40 if source == "door.mjpeg" else 60
    kept = [i for i in range(length) if (start or 0) <= i / fps < (end or math.inf)]
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == kept
    assert times == pytest.approx([i / fps for i in range(len(kept))], abs=1e-6)
    assert report.duration_s == pytest.approx(len(kept) / fps, abs=1e-6)


def test_no_window_is_cut_from_a_raw_stream_whose_frame_rate_is_unknown(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Cut at the 25 fps FFmpeg assumes, the window 1-2 s would have held the frames of 2.5-5 s.
    src = raw_mjpeg(make_clip)
    out = tmp_path / "out.mp4"
    for start, end in ((1.0, 2.0), (None, 2.0), (0.0, None)):
        with pytest.raises(InputError, match=r"^The clip is a raw stream that carries neither "
                           r"timestamps nor a frame rate \(it would be timed at an assumed 25 "
                           r"frames a second\), so no window can be cut from it by time: give "
                           r"its frame rate \(redact --fps, or a folder source's "
                           r"--frame-rate\)"):  # fmt: skip
            redact(RedactionJob(src, out, start, end, profile="masks-only"))
        assert [p.name for p in tmp_path.iterdir()] == ["door.mjpeg"]
    # The whole of it is still redacted, at that rate.
    report = redact(RedactionJob(src, out, profile="masks-only"))
    assert report.frames == 40 and report.duration_s == pytest.approx(1.6)


@pytest.mark.parametrize(
    ("source", "fps", "message"),
    [
        ("clip.mp4", Fraction(10), "The clip carries its own timestamps; a frame rate can be "
         "given only for a raw stream, which has none (MJPEG, H.264 or HEVC)."),
        ("door.jpg", Fraction(10), "The input is a still picture; a frame rate can be given "
         "only for a raw stream, which has no timestamps (MJPEG, H.264 or HEVC)."),
        ("door.mjpeg", Fraction(0), "The frame rate must be 0.001 to 1000 frames a second."),
        ("door.mjpeg", Fraction(-10), "The frame rate must be 0.001 to 1000 frames a second."),
        ("door.mjpeg", Fraction(1, 1001), "The frame rate must be 0.001 to 1000 frames a second."),
        ("door.mjpeg", Fraction(1001), "The frame rate must be 0.001 to 1000 frames a second."),
    ],
    ids=["mp4", "picture", "zero", "negative", "too-slow", "too-fast"],
)  # fmt: skip
def test_a_frame_rate_that_cannot_apply_is_refused(
    make_clip: MakeClip, tmp_path: Path, source: str, fps: Fraction, message: str
) -> None:
    if source == "door.mjpeg":
        src = raw_mjpeg(make_clip)
    elif source == "door.jpg":
        src = tmp_path / source
        Image.fromarray(index_frame(0, 320, 240)).save(src)
    else:
        src = make_clip(source)
    with pytest.raises(RedactionError) as refused:
        redact(RedactionJob(src, tmp_path / "out.mp4", profile="masks-only", fps=fps))
    assert str(refused.value) == message
    assert [p.name for p in tmp_path.iterdir()] == [source]


@pytest.mark.parametrize(
    ("options", "colour"),
    [
        ({"colour": (1, 1, 1)}, (1, 1, 1)),  # BT.709, as HD cameras mark it; two segments
        ({"codec": "mjpeg", "container": "avi", "pix_fmt": "yuvj420p"}, (5, 2, 2)),  # BT.601
        ({}, (2, 2, 2)),  # unmarked stays unmarked
    ],
)
def test_the_colour_matrix_is_carried_over(
    make_clip: MakeClip, tmp_path: Path, options: dict[str, object], colour: tuple[int, int, int]
) -> None:
    # Output YUV keeps the input's matrix, so it must say so: an HD player reads an unmarked
    # stream as BT.709, and an MJPEG camera's BT.601 colours would shift in hue.
    src = make_clip("in.avi" if "container" in options else "in.mp4", frames=240, **options)
    out = tmp_path / "out.mp4"
    redact(job(src, out))
    with av.open(str(out)) as clip:
        codec = clip.streams.video[0].codec_context
        assert (codec.colorspace, codec.color_primaries, codec.color_trc) == colour


def test_full_range_input_keeps_its_levels(make_clip: MakeClip, tmp_path: Path) -> None:
    # MJPEG cameras record full-range (JPEG) YUV; the output is limited-range yuv420p, as
    # browsers assume, so copying the values would stretch the contrast (29 -> 17, 221 -> 241).
    def ramp(index: int, width: int, height: int) -> np.ndarray:
        row = np.linspace(0, 255, width, dtype=np.uint8)
        return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)

    src = make_clip(
        "cam.avi", frames=10, painter=ramp, codec="mjpeg", pix_fmt="yuvj420p", container="avi"
    )
    out = tmp_path / "out.mp4"
    redact(job(src, out))
    before, _ = decode_all(src)
    after, _ = decode_all(out)
    difference = np.abs(before[5].astype(int) - after[5].astype(int))
    assert difference.max() <= 6


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("hevc.ts", {"codec": "libx265", "container": "mpegts", "bframes": 2}),
        ("vp9.webm", {"codec": "libvpx-vp9", "container": "webm"}),
        ("mjpeg.avi", {"codec": "mjpeg", "container": "avi", "pix_fmt": "yuvj420p"}),
        ("10bit.mp4", {"pix_fmt": "yuv420p10le"}),
    ],
)
@pytest.mark.parametrize(("start", "end"), [(None, None), (2.5, 7.0)])
def test_camera_codecs_and_containers_trim_and_join_exactly(
    make_clip: MakeClip,
    tmp_path: Path,
    name: str,
    options: dict[str, object],
    start: float | None,
    end: float | None,
) -> None:
    src = make_clip(name, frames=240, gop=45, **options)
    out = tmp_path / "out.mp4"
    redact(job(src, out, start_s=start, end_s=end))
    first, last = round((start or 0) * 30), round((end or 8) * 30) - 1
    frames, _ = decode_all(out)
    assert [read_index(f) for f in frames] == list(range(first, last + 1))


def test_a_size_change_mid_stream_is_scaled_to_the_first_size(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    small = make_clip("a.ts", frames=90, container="mpegts")
    large = make_clip(
        "b.ts", frames=90, width=640, height=360, container="mpegts", pts=range(90, 180)
    )
    joined = tmp_path / "joined.ts"
    joined.write_bytes(small.read_bytes() + large.read_bytes())
    out = tmp_path / "out.mp4"
    report = redact(job(joined, out))
    frames, _ = decode_all(out)
    assert (report.frames, report.width, report.height) == (180, 320, 240)
    assert {f.shape for f in frames} == {(240, 320, 3)}
    assert [read_index(f) for f in frames] == list(range(90)) * 2


@pytest.mark.parametrize("rotation", [90, -90, 180])
@pytest.mark.parametrize(("start", "end"), [(None, None), (2.5, 7.0)])
def test_a_clip_stored_sideways_is_redacted_upright(
    make_clip: MakeClip, tmp_path: Path, rotation: int, start: float | None, end: float | None
) -> None:
    # Phones store portrait video sideways with a display rotation; the output has no metadata
    # to carry it, so the frames themselves are turned (and the detectors see faces upright).
    src = make_clip(frames=240, gop=45, width=240, height=320, rotation=rotation)
    with av.open(str(src)) as clip:
        assert clip.streams.video[0].codec_context.width == (240 if rotation == 180 else 320)
    out = tmp_path / "out.mp4"
    report = redact(job(src, out, start_s=start, end_s=end))
    first, last = round((start or 0) * 30), round((end or 8) * 30) - 1
    frames, _ = decode_all(out)
    assert (report.width, report.height) == (240, 320)
    assert {f.shape for f in frames} == {(320, 240, 3)}
    assert [read_index(f) for f in frames] == list(range(first, last + 1))


IDENTITY = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


@pytest.mark.parametrize(
    ("matrix", "store"),
    [  # [[a, b], [c, d]] maps a stored pixel (x, y) to (a x + c y, b x + d y) shown
        ((-1, 0, 0, 1), lambda shown: shown[:, ::-1]),  # mirrored
        ((1, 0, 0, -1), lambda shown: shown[::-1]),  # upside down
        ((0, 1, 1, 0), lambda shown: shown.transpose(1, 0, 2)),  # a quarter turn, mirrored
        ((0, -1, -1, 0), lambda shown: shown.transpose(1, 0, 2)[::-1, ::-1]),
    ],
    ids=["mirrored", "upside-down", "transposed", "transposed-other-way"],
)
def test_a_clip_stored_mirrored_is_redacted_as_shown(
    make_clip: MakeClip,
    tmp_path: Path,
    matrix: tuple[int, int, int, int],
    store: Callable[[np.ndarray], np.ndarray],
) -> None:
    # A display matrix with a flip (front cameras, editing apps): FFmpeg's rotation ignores the
    # flip, so a mirrored picture came out turned upside down instead of mirrored back.
    turned = matrix[0] == 0
    shown = (240, 320) if turned else (320, 240)  # width, height as players show it
    src = make_clip(
        frames=240,
        width=shown[1] if turned else shown[0],
        height=shown[0] if turned else shown[1],
        painter=lambda index, *_: np.ascontiguousarray(store(index_frame(index, *shown))),
    )
    a, b, c, d = matrix
    flipped = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 0x40000000)
    data = src.read_bytes()
    track = data.index(b"tkhd")  # after the movie header, whose matrix is the identity too
    src.write_bytes(data[:track] + data[track:].replace(IDENTITY, flipped, 1))
    out = tmp_path / "out.mp4"
    report = redact(job(src, out))
    frames, _ = decode_all(out)
    assert (report.width, report.height) == shown
    assert [read_index(f) for f in frames] == list(range(240))


@pytest.mark.parametrize(("rotation", "shown"), [(0, Fraction(12, 11)), (90, Fraction(11, 12))])
def test_non_square_pixels_keep_their_shape(
    make_clip: MakeClip, tmp_path: Path, rotation: int, shown: Fraction
) -> None:
    # A D1 recorder's 704 x 576 is shown at 4:3 through 12:11 pixels; without them the output
    # plays squeezed. Turned upright, a pixel's shape turns too. Whole clip: two segments.
    width, height = (288, 352) if rotation else (352, 288)  # as shown
    src = make_clip(
        frames=240, width=width, height=height, rotation=rotation, pixel_aspect=Fraction(12, 11)
    )
    out, preview = tmp_path / "out.mp4", tmp_path / "sheet.png"
    redact(job(src, out, preview=preview))
    with av.open(str(out)) as clip:
        assert clip.streams.video[0].sample_aspect_ratio == shown
    tile = round(height * 320 / (width * shown) / 2) * 2  # the picture's shape too (even: I420)
    with Image.open(preview) as sheet:
        assert sheet.size == (4 * 320, 3 * (tile + 18))


def test_the_recording_is_chosen_over_a_thumbnail_track_stored_first(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Some cameras and apps store a one-frame thumbnail as the first video track; taking the
    # first track redacted the thumbnail and failed as "truncated".
    src = tmp_path / "thumb.mkv"
    with av.open(str(src), "w") as out:
        thumb = out.add_stream("mjpeg", rate=1)
        thumb.width, thumb.height, thumb.pix_fmt = 64, 64, "yuvj420p"
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        picture.pts = 0
        out.mux(thumb.encode(picture) + thumb.encode(None))
        for index in range(90):
            frame = av.VideoFrame.from_ndarray(index_frame(index, 320, 240), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    out_path = tmp_path / "out.mp4"
    report = redact(job(src, out_path))
    frames, _ = decode_all(out_path)
    assert (report.frames, report.width, report.height) == (90, 320, 240)
    assert [read_index(f) for f in frames] == list(range(90))
