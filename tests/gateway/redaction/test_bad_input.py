"""Bad input gets a clear RedactionError (or a correct result) and never leaves an output file."""

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import av
import av.stream
import numpy as np
import pytest

from gateway.redaction.errors import InputError
from gateway.redaction.pipeline import RedactionError, RedactionJob, redact
from tests.gateway.redaction.conftest import MakeClip, decode_all, index_frame, read_index


def run_refused(src: Path, tmp_path: Path, match: str, **options: object) -> None:
    out = tmp_path / "out" / "redacted.mp4"
    out.parent.mkdir(exist_ok=True)
    settings: dict[str, object] = {"profile": "masks-only", "preview": out.parent / "p.png"}
    job = RedactionJob(src, out, **(settings | options))  # type: ignore[arg-type]
    with pytest.raises(RedactionError, match=match):
        redact(job)
    assert list(out.parent.iterdir()) == []  # no output, no preview, no temporary file


def test_missing_file(tmp_path: Path) -> None:
    run_refused(tmp_path / "nope.mp4", tmp_path, "does not exist")


def test_a_folder_or_a_pipe_as_input_is_refused_at_once(tmp_path: Path) -> None:
    run_refused(tmp_path, tmp_path, "not a clip file")
    pipe = tmp_path / "clip.mp4"
    os.mkfifo(pipe)  # no writer: opening it to read would wait for ever
    run_refused(pipe, tmp_path, "not a clip file")


@pytest.mark.parametrize(
    ("output", "preview", "match"),
    [
        ("", "p.png", "redacted clip must be a file name"),  # the current folder
        ("sub", "p.png", "redacted clip must be a file name"),  # a folder that exists
        ("redacted.mp4", "/", "preview must be a file name"),
        ("missing/redacted.mp4", "p.png", "folder for the redacted clip does not exist"),
        ("redacted.mp4", "missing/p.png", "folder for the preview does not exist"),
        ("x" * 240 + ".mp4", "p.png", "redacted clip's file name is too long"),  # with .partial
        # A device, pipe or socket would be replaced by the file (/dev/null, when run as root).
        ("pipe", "p.png", "redacted clip must be a file name, not a device, a pipe or a socket"),
        ("redacted.mp4", "pipe", "preview must be a file name, not a device, a pipe or a socket"),
    ],
)
def test_bad_output_and_preview_paths_are_refused_before_anything_is_written(
    make_clip: MakeClip, tmp_path: Path, output: str, preview: str, match: str
) -> None:
    src = make_clip(frames=5)
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    os.mkfifo(folder / "pipe")
    job = RedactionJob(
        src,
        folder / output if output else Path(output),
        profile="masks-only",
        preview=Path(preview) if preview.startswith("/") else folder / preview,
    )
    with pytest.raises(RedactionError, match=match):
        redact(job)
    assert sorted(p.name for p in folder.iterdir()) == ["pipe", "sub"]
    assert stat.S_ISFIFO((folder / "pipe").lstat().st_mode)


def test_zero_length_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    run_refused(empty, tmp_path, "empty")


def test_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    run_refused(junk, tmp_path, "cannot be read as video")


def test_truncated_before_the_index(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=60)  # moov at the end: cutting the file loses the index
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    run_refused(src, tmp_path, "cannot be read as video")


def test_truncated_media_data(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=150, width=640, height=360)
    faststart = tmp_path / "fast.mp4"
    redact(RedactionJob(src, faststart, profile="masks-only"))  # moov first, as cameras write
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])
    run_refused(cut, tmp_path, r"truncated|corrupt")


def test_a_header_cut_anywhere_is_refused_with_a_reason(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Cut inside the index, an MP4 showed its video as a stream of no known codec (a crash on
    # None) or as a data stream ("no video stream (it may be audio only)").
    faststart = tmp_path / "fast.mp4"
    redact(RedactionJob(make_clip(frames=30), faststart, profile="masks-only"))
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    for end in range(data.index(b"moov") + 8, data.index(b"mdat"), 40):
        cut.write_bytes(data[:end])
        run_refused(cut, tmp_path, "header is (missing or )?damaged|cut short or damaged")


def test_corrupt_in_the_middle(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=90, width=640, height=360)
    data = bytearray(src.read_bytes())
    start = data.index(b"mdat") + len(data) // 3
    data[start : start + 20_000] = bytes(20_000)  # wipe a stretch of coded video
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    try:
        report = redact(RedactionJob(broken, out, profile="masks-only"))
    except RedactionError as exc:
        assert "corrupt" in str(exc) or "truncated" in str(exc)
        assert not out.exists()
    else:  # the decoder concealed the damage: the result must still be a whole, valid clip
        assert report.frames > 0
        with av.open(str(out)) as clip:
            assert sum(1 for _ in clip.decode(video=0)) == report.frames


def test_recordings_joined_with_restarting_timestamps_are_refused(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # Two MPEG-TS recordings joined end to end: the second's timestamps start again at zero, so
    # its frames were dropped as out of order and the output silently ended after the first.
    first = make_clip("a.ts", frames=120, container="mpegts")
    second = make_clip("b.ts", frames=120, container="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    run_refused(joined, tmp_path, r"timestamps go back from 00:03 to 00:00")


def write_streams(
    path: Path,
    videos: Sequence[tuple[str, int]],
    audio_s: float,
    first: av.stream.Disposition | None = None,
) -> Path:
    """A file with a video stream of `frames` numbered frames (conftest.index_frame) at 30 fps
    for each (codec, frames) in `videos`, the first of them marked `first`, then `audio_s`
    seconds of silence."""
    with av.open(str(path), "w") as out:
        streams: list[tuple[av.VideoStream, int]] = []
        for codec, frames in videos:
            stream = out.add_stream(codec, rate=30)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height = 320, 240
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            if first is not None and not streams:
                stream.disposition = first
            streams.append((stream, frames))
        sound = out.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=48_000)
        assert isinstance(sound, av.AudioStream)
        sound.codec_context.open()
        size = sound.codec_context.frame_size  # the encoder takes exactly this many samples
        for stream, frames in streams:
            for index in range(frames):
                picture = av.VideoFrame.from_ndarray(index_frame(index, 320, 240), format="rgb24")
                picture.pts = index
                out.mux(stream.encode(picture))
            out.mux(stream.encode(None))
        for index in range(round(audio_s * 48_000 / size)):
            samples = np.zeros((1, size), np.float32)
            chunk = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 48_000, index * size
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    return path


def assert_redacted_whole(src: Path, tmp_path: Path, indices: range) -> None:
    """The clip is redacted, not refused, with exactly the frames `indices`."""
    out = tmp_path / "out.mp4"
    report = redact(RedactionJob(src, out, profile="masks-only"))
    frames, _ = decode_all(out)
    assert [read_index(f) for f in frames] == list(indices)
    assert report.frames == len(indices)


def test_audio_only(tmp_path: Path) -> None:
    src = write_streams(tmp_path / "voice.m4a", [], 0.5)
    run_refused(src, tmp_path, r"no video stream \(it is audio only\)")


def test_audio_with_a_cover_picture_is_audio_only(tmp_path: Path) -> None:
    # The cover is FFmpeg's best video stream when there is no other: it was "truncated".
    cover = av.stream.Disposition.attached_pic
    src = write_streams(tmp_path / "song.mp4", [("mjpeg", 1)], 2.0, cover)
    run_refused(src, tmp_path, "no video stream, only a cover picture")


@pytest.mark.parametrize(("name", "codec"), [("clip.mkv", "libx264"), ("clip.webm", "libvpx-vp9")])
def test_audio_recorded_on_after_the_video_is_not_truncation(
    tmp_path: Path, name: str, codec: str
) -> None:
    # Matroska keeps no duration per stream in its header, and the container's is the longest
    # stream's: a whole clip whose microphone ran on after the picture was refused as truncated.
    src = write_streams(tmp_path / name, [(codec, 60)], 5.0)
    assert_redacted_whole(src, tmp_path, range(60))


def test_a_second_longer_video_stream_is_not_truncation(tmp_path: Path) -> None:
    # The stream marked default is the recording, and the container's length the other's.
    videos = [("libx264", 60), ("libx264", 90)]
    src = write_streams(tmp_path / "clip.mkv", videos, 0.0, av.stream.Disposition.default)
    assert_redacted_whole(src, tmp_path, range(60))


@pytest.mark.parametrize("first", [30 * 10**6, 2**40], ids=["11 days", "1161 years"])
def test_a_clip_timed_from_far_into_its_timeline_is_whole(
    make_clip: MakeClip, tmp_path: Path, first: int
) -> None:
    # FFmpeg writes Matroska's durations as end times: this clip "was" 11 days long. 1161 years
    # in, its DURATION tag overflows ("-596523:-14:15.5"), and the segment's duration is left.
    src = make_clip("clip.mkv", frames=90, pts=range(first, first + 90), container="matroska")
    assert_redacted_whole(src, tmp_path, range(90))


def test_a_recording_cut_before_its_first_keyframe_keeps_what_can_be_decoded(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # An MPEG-TS recording cut mid-GOP (as a recorder's ring buffer overwrites it): its frames
    # until the next keyframe cannot be decoded, and its stated length counts them.
    src = make_clip("clip.ts", frames=150, gop=75, container="mpegts")
    data = src.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[len(data) // 188 // 4 * 188 :])  # whole transport packets
    assert_redacted_whole(cut, tmp_path, range(75, 150))


def test_huge_resolution_is_refused(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=2, width=4112, height=64)
    run_refused(src, tmp_path, "4112x64; the largest we redact is 4096x4096")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start_s": 3.0, "end_s": 2.0}, "after its start"),
        ({"start_s": -1.0}, "positive"),
        ({"start_s": 1e15}, "at most 10"),
        ({"profile": "blur"}, "Unknown redaction profile"),
        ({"masks": (((0.1, 0.1), (0.2, 0.2)),)}, "three corners"),
        ({"masks": (((0.1, 0.1), (1.2, 0.2), (0.5, 0.5)),)}, "between 0 and 1"),
        # Its corners on one line, or one corner three times: it would cover a line, or nothing.
        ({"masks": (((0.2, 0.2), (0.8, 0.8), (0.5, 0.5)),)}, "enclose an area"),
        ({"masks": (((0.3, 0.3),) * 3,)}, "enclose an area"),
        # A bow tie: edges that cross leave which side is inside to a guess.
        ({"masks": (((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9)),)}, "edges 2 and 4 cross"),
        # A spike drawn out and back along one line.
        (
            {"masks": (((0.1, 0.1), (0.5, 0.1), (0.5, 0.0), (0.5, 0.05), (0.9, 0.1), (0.5, 0.9)),)},
            "edges 2 and 4 cross or touch",
        ),
        ({"start_s": 10.0}, r"starts 10 s into the clip, but the clip is 1 s long: .*no video"),
    ],
)
def test_bad_job_options(
    make_clip: MakeClip, tmp_path: Path, options: dict[str, object], match: str
) -> None:
    run_refused(make_clip(frames=30), tmp_path, match, **options)


def test_output_over_input_is_refused(make_clip: MakeClip) -> None:
    src = make_clip(frames=5)
    before = src.read_bytes()
    with pytest.raises(RedactionError, match="different file"):
        redact(RedactionJob(src, src, profile="masks-only"))
    assert src.read_bytes() == before


@pytest.mark.parametrize("over", ["input", "output"])
def test_preview_over_input_or_output_is_refused(
    make_clip: MakeClip, tmp_path: Path, over: str
) -> None:
    src = make_clip(frames=5)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier redacted clip")
    before = src.read_bytes()
    job = RedactionJob(src, out, profile="masks-only", preview=src if over == "input" else out)
    with pytest.raises(RedactionError, match="preview must be a different file"):
        redact(job)
    assert src.read_bytes() == before and out.read_bytes() == b"an earlier redacted clip"


def test_input_errors_are_redaction_errors() -> None:
    assert issubclass(InputError, RedactionError)


def test_truncation_found_by_a_segment_worker_fails_the_whole_job(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    src = make_clip(frames=300, width=640, height=360)  # 10 s: split across two processes
    faststart = tmp_path / "fast.mp4"
    redact(RedactionJob(src, faststart, profile="masks-only"))
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 5])  # the second segment runs out of frames
    run_refused(cut, tmp_path, "truncated")
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_file_names_with_a_colon_are_files_not_protocols(
    make_clip: MakeClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FFmpeg reads "cam:1.mp4" as the protocol "cam" unless the path is absolute.
    monkeypatch.chdir(tmp_path)
    Path("cam:1.mp4").write_bytes(make_clip(frames=5).read_bytes())
    report = redact(RedactionJob(Path("cam:1.mp4"), Path("out-12:30.mp4"), profile="masks-only"))
    assert report.frames == 5 and Path("out-12:30.mp4").is_file()
