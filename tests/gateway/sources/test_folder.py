"""The folder source over real MP4s written with PyAV."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gateway.sources.base import (
    NoFootageError,
    Recording,
    SourceError,
    SourceUnavailableError,
    UnknownCameraError,
)
from gateway.sources.folder import CameraLayout, FolderSettings, FolderSource
from protocol.timeutil import TimeWindow

type MakeClip = Callable[..., Path]

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def window(start_s: float, end_s: float) -> TimeWindow:
    return TimeWindow(T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s))


async def test_demo_layout_indexes_subfolder_cameras(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "cam-front" / "front_20261121_093000.mp4", seconds=3)
    make_clip(tmp_path / "cam-back" / "back_20261121_093000.mp4", seconds=2)
    source = FolderSource(tmp_path)
    found = await source.recordings("cam-front", window(0, 60))
    assert [r.recording_id for r in found] == ["cam-front/front_20261121_093000.mp4"]
    assert found[0].start == T0
    assert found[0].end == T0 + timedelta(seconds=3)
    assert found[0].metadata["time_zone"] == "UTC"
    assert found[0].metadata["clock_offset_s"] == "0"
    cameras = await source.cameras()
    assert [(c.device_id, c.footage_start, c.footage_end) for c in cameras] == [
        ("cam-back", T0, T0 + timedelta(seconds=2)),
        ("cam-front", T0, T0 + timedelta(seconds=3)),
    ]


async def test_window_straddling_two_clips_returns_both(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4", seconds=3)
    make_clip(tmp_path / "porch" / "porch_20261121_093003.mp4", seconds=3)
    make_clip(tmp_path / "porch" / "porch_20261121_093010.mp4", seconds=2)
    source = FolderSource(tmp_path)
    found = await source.recordings("porch", window(2, 4))
    assert [r.start for r in found] == [T0, T0 + timedelta(seconds=3)]
    # Half-open: a window ending exactly where a clip starts does not include it.
    assert [r.start for r in await source.recordings("porch", window(6, 10))] == []


async def test_empty_window_is_an_empty_list(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path)
    assert await source.recordings("porch", window(-3600, -60)) == []


async def test_unknown_camera_says_so(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    with pytest.raises(UnknownCameraError, match="no recordings for camera 'garage'"):
        await FolderSource(tmp_path).recordings("garage", window(0, 60))


async def test_time_zone_and_clock_offset(tmp_path: Path, make_clip: MakeClip) -> None:
    # The recorder writes local New York time and runs 90 s fast.
    make_clip(tmp_path / "porch" / "porch_20261121_043130.mp4", seconds=2)
    settings = FolderSettings(time_zone="America/New_York", clock_offset_s=90)
    source = FolderSource(tmp_path, settings=settings)
    [found] = await source.recordings("porch", window(0, 10))
    assert found.start == T0  # 04:31:30 EST = 09:31:30 UTC, minus 90 s
    assert found.end == T0 + timedelta(seconds=2)
    assert found.metadata["time_zone"] == "America/New_York"
    assert found.metadata["clock_offset_s"] == "90"


async def test_bad_time_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a time zone name"):
        FolderSource(tmp_path, settings=FolderSettings(time_zone="Mars/Olympus"))


async def test_frigate_layout_and_clips(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "recordings" / "2026-11-21" / "09" / "driveway" / "30.00.mp4")
    make_clip(tmp_path / "clips" / "driveway-1795253402.250000-x1y2z3.mp4")
    source = FolderSource(tmp_path, settings=FolderSettings(time_zone="Europe/Berlin"))
    found = await source.recordings("driveway", window(0, 10))
    assert [(r.start, r.metadata["time_basis"]) for r in found] == [
        (T0, "file_name:frigate_recording"),
        (T0 + timedelta(seconds=2.25), "file_name:frigate_clip"),
    ]
    assert all(r.metadata["time_zone"] == "UTC" for r in found)


async def test_hikvision_names_by_file_name(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "nvr-export" / "ch02_20261121093000.mp4")
    source = FolderSource(tmp_path, settings=FolderSettings(layout=CameraLayout.FILE_NAME))
    [found] = await source.recordings("ch02", window(0, 5))
    assert found.start == T0


@pytest.mark.parametrize("suffix", [".mpg", ".h264"])
async def test_mpeg_ps_and_raw_h264_exports_are_indexed_at_their_true_length(
    tmp_path: Path, make_clip: MakeClip, suffix: str
) -> None:
    # Older DVRs export MPEG-PS; cheap cameras write raw H.264, which has no timestamps and
    # which FFmpeg's demuxer would time at 25 fps (this one is 3 s at 30 fps, not 3.6 s).
    make_clip(tmp_path / "nvr-export" / f"ch02_20261121093000{suffix}", seconds=3.0, fps=30)
    source = FolderSource(tmp_path, settings=FolderSettings(layout=CameraLayout.FILE_NAME))
    [found] = await source.recordings("ch02", window(0, 5))
    assert found.start == T0
    assert abs((found.end - found.start).total_seconds() - 3.0) <= 1 / 30
    assert found.recording_id.endswith(suffix) and source.skipped() == {}


@pytest.mark.parametrize("suffix", [".mjpeg", ".h264"])
async def test_raw_streams_are_indexed_at_the_frame_rate_the_source_was_given(
    tmp_path: Path, make_clip: MakeClip, suffix: str
) -> None:
    # 3 s at 10 fps. Raw MJPEG states no rate (its windows are refused, below), and this
    # H.264 stream's encoder stated 10; a rate given wins, as a camera may misstate its own.
    make_clip(tmp_path / "door" / f"door_20261121_093000{suffix}", seconds=3.0, fps=10)
    make_clip(tmp_path / "door" / "door_20261121_093100.mp4", seconds=2.0, fps=10)
    given = await FolderSource(
        tmp_path, settings=FolderSettings(frame_rate=Fraction(5))
    ).recordings("door", window(0, 120))
    assert [(r.end - r.start).total_seconds() for r in given] == [6.0, 2.0]
    # The redaction reads the rate from the recording; the manifest records it. Only raw
    # streams have it: the MP4 carries its own times.
    assert [r.metadata.get("frame_rate") for r in given] == ["5", None]
    assert given[0].metadata["duration_s"] == "6"
    if suffix == ".h264":
        unset = await FolderSource(tmp_path).recordings("door", window(0, 120))
        assert [(r.end - r.start).total_seconds() for r in unset] == [3.0, 2.0]
        assert [r.metadata.get("frame_rate") for r in unset] == [None, None]


async def test_a_window_a_raw_stream_stating_no_frame_rate_may_reach_is_refused(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    # Timed at FFmpeg's assumed 25 fps, 3 s at 10 fps reads as 1.2 s: it may last until the
    # camera's next recording, so a window up to then can be neither answered nor called empty.
    make_clip(tmp_path / "door" / "door_20261121_093000.mp4", seconds=2.0)
    make_clip(tmp_path / "door" / "door_20261121_093010.mjpeg", seconds=3.0, fps=10)
    make_clip(tmp_path / "door" / "door_20261121_093100.mp4", seconds=2.0)
    source = FolderSource(tmp_path, name="esp32")
    for start, end in ((9, 11), (12, 13), (30, 60), (0, 120)):
        with pytest.raises(SourceError) as refused:
            await source.recordings("door", window(start, end))
        assert str(refused.value) == (
            "door_20261121_093010.mjpeg is a raw stream that states no frame rate, so which of "
            "its frames fall in the window is unknown: give the source its cameras' frame rate "
            "(source set esp32 --frame-rate RATE), or have the camera record in a container "
            "such as MP4."
        )
    assert [r.recording_id for r in await source.recordings("door", window(0, 10))] == [
        "door/door_20261121_093000.mp4"
    ]
    assert [r.recording_id for r in await source.recordings("door", window(60, 90))] == [
        "door/door_20261121_093100.mp4"
    ]
    given = FolderSource(tmp_path, settings=FolderSettings(frame_rate=Fraction(10)))
    assert [r.recording_id for r in await given.recordings("door", window(12, 14))] == [
        "door/door_20261121_093010.mjpeg"
    ]
    assert await given.recordings("door", window(14, 60)) == []


async def test_container_creation_time_when_the_name_says_nothing(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    make_clip(tmp_path / "porch" / "export.mp4", creation_time="2026-11-21T09:30:05.000000Z")
    make_clip(tmp_path / "porch" / "undated.mp4")
    source = FolderSource(tmp_path)
    [found] = await source.recordings("porch", window(0, 60))
    assert found.start == T0 + timedelta(seconds=5)
    assert found.metadata["time_basis"] == "container:creation_time"
    assert source.skipped() == {"undated.mp4": "no start time in its name or its container"}


async def test_corrupt_file_is_skipped_with_its_name_only(
    tmp_path: Path, make_clip: MakeClip, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    truncated = tmp_path / "porch" / "porch_20261121_093002.mp4"
    truncated.write_bytes(good.read_bytes()[:400])
    (tmp_path / "porch" / "porch_20261121_093004.mp4").write_bytes(b"not a video at all")
    caplog.set_level(logging.WARNING)
    source = FolderSource(tmp_path)
    found = await source.recordings("porch", window(0, 60))
    assert [r.recording_id for r in found] == ["porch/porch_20261121_093000.mp4"]
    assert set(source.skipped()) == {"porch_20261121_093002.mp4", "porch_20261121_093004.mp4"}
    assert "porch_20261121_093004.mp4" in caplog.text
    assert str(tmp_path) not in caplog.text


async def test_a_raw_stream_is_indexed_only_when_a_frame_of_it_decodes(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    # A raw demuxer takes any bytes for packets: a text file named .mjpeg was a 1-frame clip.
    door = tmp_path / "footage" / "door"
    door.mkdir(parents=True)
    (door / "door_20261121_093000.mjpeg").write_bytes(b"not a video at all\n")
    (door / "door_20261121_093100.h264").write_bytes(np.random.default_rng(7).bytes(20_000))
    # A stream cut mid-way (a recorder's ring buffer) decodes from its next keyframe, whose
    # parameter sets the camera repeats.
    whole = tmp_path / "whole.h264"
    with av.open(str(whole), mode="w") as container:
        stream = container.add_stream(
            "libx264", rate=10, options={"x264-params": "repeat-headers=1"}
        )
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.gop_size = 10
        for index in range(30):
            pixels = np.full((120, 160, 3), index * 8, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    stream_bytes = whole.read_bytes()
    first_p = stream_bytes.index(b"\x00\x00\x01\x41") - 1  # the first P slice, 00 00 00 01 41
    (door / "door_20261121_093200.h264").write_bytes(stream_bytes[first_p:])
    source = FolderSource(tmp_path / "footage")
    found = await source.recordings("door", window(0, 300))
    assert [r.recording_id for r in found] == ["door/door_20261121_093200.h264"]
    assert source.skipped()["door_20261121_093000.mjpeg"] == (
        "could not be read as video (no frame of it decodes)"
    )
    assert "door_20261121_093100.h264" in source.skipped()


async def test_fetch_copies_the_original_bytes(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "src" / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path / "src")
    [found] = await source.recordings("porch", window(0, 5))
    first = await source.fetch(found, tmp_path / "work")
    second = await source.fetch(found, tmp_path / "work")
    assert first.read_bytes() == clip.read_bytes() == second.read_bytes()
    assert first != second and first.parent == tmp_path / "work"
    assert first.stat().st_ino != clip.stat().st_ino


async def test_fetch_can_hard_link(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "src" / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path / "src", hard_link=True)
    [found] = await source.recordings("porch", window(0, 5))
    fetched = await source.fetch(found, tmp_path / "work")
    assert fetched.stat().st_ino == clip.stat().st_ino


@pytest.mark.parametrize("bad_id", ["../secret.mp4", "/etc/passwd", "porch/../../x.mp4", ""])
async def test_fetch_refuses_ids_outside_the_folder(tmp_path: Path, bad_id: str) -> None:
    (tmp_path / "src").mkdir()
    source = FolderSource(tmp_path / "src")
    forged = Recording("folder", "porch", bad_id, T0, T0 + timedelta(seconds=1))
    with pytest.raises(SourceError, match="not a recording of this folder source"):
        await source.fetch(forged, tmp_path / "work")
    assert not (tmp_path / "work").exists()


async def test_folder_removed_before_fetch(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "src" / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path / "src")
    [found] = await source.recordings("porch", window(0, 5))
    shutil.rmtree(tmp_path / "src")
    with pytest.raises(SourceUnavailableError, match="cannot be found"):
        await source.fetch(found, tmp_path / "work")
    assert not (tmp_path / "work").exists()
    with pytest.raises(SourceUnavailableError):
        await source.recordings("porch", window(0, 5))


async def test_file_deleted_by_retention_after_listing(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path)
    [found] = await source.recordings("porch", window(0, 5))
    clip.unlink()
    with pytest.raises(NoFootageError, match="removed from the folder"):
        await source.fetch(found, tmp_path / "work")
    assert not (tmp_path / "work").exists()


async def test_refresh_sees_new_and_removed_files(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path)
    assert len(await source.recordings("porch", window(0, 60))) == 1
    make_clip(tmp_path / "porch" / "porch_20261121_093010.mp4")
    assert len(await source.recordings("porch", window(0, 60))) == 2
    (tmp_path / "porch" / "porch_20261121_093000.mp4").unlink()
    found = await source.recordings("porch", window(0, 60))
    assert [r.start for r in found] == [T0 + timedelta(seconds=10)]


async def test_a_skipped_file_is_retried_once_it_changes(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    target = tmp_path / "porch" / "porch_20261121_093000.mp4"
    good = make_clip(tmp_path / "staging" / "x.mp4").read_bytes()
    target.parent.mkdir()
    target.write_bytes(good[:300])  # still being written
    source = FolderSource(tmp_path / "porch" / "..")
    with pytest.raises(UnknownCameraError):
        await source.recordings("porch", window(0, 5))
    target.write_bytes(good)
    assert len(await source.recordings("porch", window(0, 5))) == 1


async def test_watch_notices_new_files(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "porch" / "porch_20261121_093000.mp4")
    source = FolderSource(tmp_path)
    await source.refresh()
    seen: list[Recording] = []
    arrived = asyncio.Event()

    async def on_new(recording: Recording) -> None:
        seen.append(recording)
        arrived.set()

    watcher = asyncio.create_task(source.watch(on_new, interval_s=0.05))
    try:
        await asyncio.sleep(0.1)
        assert seen == []
        make_clip(tmp_path / "porch" / "porch_20261121_093100.mp4")
        await asyncio.wait_for(arrived.wait(), timeout=10)
    finally:
        watcher.cancel()
    assert [r.recording_id for r in seen] == ["porch/porch_20261121_093100.mp4"]
