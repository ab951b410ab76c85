"""Parallel segments: a half of the window with no frames, the fork server's lifetime."""

from pathlib import Path

import pytest

from gateway.redaction.pipeline import RedactionError, RedactionJob, redact, redact_with
from gateway.redaction.profiles import DetectionSettings
from tests.gateway.redaction.conftest import MakeClip, decode_all, read_index

# A motion-triggered camera's clip: 100 frames at 0-3.3 s, nothing for a minute, 100 at 60-63.3 s.
GAP = [*range(100), *range(1800, 1900)]


def job(src: Path, dst: Path, start: float | None, end: float | None) -> RedactionJob:
    return RedactionJob(src, dst, start_s=start, end_s=end, profile="masks-only")


@pytest.mark.parametrize(
    ("start", "end"),
    [(None, 40.0), (10.0, 63.0), (50.0, None)],
    ids=["second-half-empty", "first-half-empty", "first-half-empty-to-the-end"],
)
def test_a_half_that_falls_in_a_gap_between_frames_adds_nothing(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    src = make_clip(frames=len(GAP), pts=GAP, gop=30)
    out = tmp_path / "out.mp4"
    report = redact(job(src, out, start, end))
    kept = [i for i, pts in enumerate(GAP) if (start or 0) <= pts / 30 < (end or 64)]
    frames, times = decode_all(out)
    assert [read_index(f) for f in frames] == kept
    assert times == pytest.approx([(GAP[i] - GAP[kept[0]]) / 30 for i in kept], abs=1e-3)
    one_pass = redact_with(job(src, tmp_path / "one.mp4", start, end), [], DetectionSettings())
    assert (report.frames, report.duration_s) == (one_pass.frames, one_pass.duration_s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "one.mp4", "out.mp4"]


def test_a_long_window_with_no_frames_at_all_is_refused(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    src = make_clip(frames=len(GAP), pts=GAP, gop=30)
    with pytest.raises(RedactionError, match=r"^The requested window contains no video frames\.$"):
        redact(job(src, tmp_path / "out.mp4", 10.0, 50.0))
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
