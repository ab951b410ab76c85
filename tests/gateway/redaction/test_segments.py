"""Parallel segments: a half of the window with no frames, the fork server's lifetime, a worker
killed mid-job."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.processes import alive, descendants
from gateway.redaction.execution import Window
from gateway.redaction.pipeline import RedactionError, RedactionJob, redact, redact_with
from gateway.redaction.profiles import BUNDLED, DetectionSettings, Profile
from gateway.redaction.segments import run_segments
from tests.gateway.redaction.conftest import (
    MakeClip,
    decode_all,
    read_index,
    redacting_in_two_processes,
)
from tests.gateway.redaction.test_contact_sheet import SHEET_SIZE, sheet_of
from tests.gateway.test_workers import gone

# A motion-triggered camera's clip: 100 frames at 0-3.3 s, nothing for a minute, 100 at 60-63.3 s.
GAP = [*range(100), *range(1800, 1900)]


def job(src: Path, dst: Path, start: float | None, end: float | None) -> RedactionJob:
    """A masks-only job, its contact sheet beside `dst` (.png)."""
    preview = dst.with_suffix(".png")
    return RedactionJob(src, dst, start, end, profile="masks-only", preview=preview)


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
    # The contact sheet too. Each half kept six tiles of its own, and a half in the gap none; one
    # process took the first frame at or after each twelfth of the window: twelve frames in a
    # row after the gap, or one before a gap at the end.
    sheet = sheet_of(tmp_path / "out.png")
    assert sheet[0] == SHEET_SIZE and sheet == sheet_of(tmp_path / "one.png")
    names = ["clip.mp4", "one.mp4", "one.png", "out.mp4", "out.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_a_long_window_with_no_frames_at_all_is_refused(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    src = make_clip(frames=len(GAP), pts=GAP, gop=30)
    with pytest.raises(RedactionError, match=r"^The requested window contains no video frames\.$"):
        redact(job(src, tmp_path / "out.mp4", 10.0, 50.0))
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def fork_servers() -> list[int]:
    """The running fork servers below this process (a job's workers, which have their server's
    command line, have ended when it returns)."""
    return fork_servers_of(descendants(os.getpid()))


def fork_servers_of(pids: list[int]) -> list[int]:
    """Those of `pids` that are running fork servers or processes they forked."""
    found = []
    for pid in pids:
        try:
            if alive(pid) and b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # it ended while we looked
            continue
    return found


def test_every_job_of_a_process_uses_its_one_fork_server(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # It was killed at the end of each job, with the thread that had started it, and the next
    # job's worker waited for a new one to import the pipeline.
    src = make_clip(frames=210)  # 7 s: two segments
    redact(job(src, tmp_path / "a.mp4", None, None))
    server = fork_servers()
    redact(job(src, tmp_path / "b.mp4", None, None))
    assert len(server) == 1 and fork_servers() == server


@pytest.mark.parametrize("failing", [0, 1], ids=["the worker's window", "its own window"])
def test_a_failing_window_fails_the_job_at_once_and_leaves_nothing(
    make_clip: MakeClip, tmp_path: Path, failing: int
) -> None:
    src = make_clip(frames=1800)  # a minute: the worker's window takes it several seconds
    out = tmp_path / "out" / "joined.mp4"
    out.parent.mkdir()
    inputs = [src, src]
    inputs[failing] = tmp_path / "gone.mp4"  # that window cannot open its input
    windows = [
        Window(inputs[0], out.parent / ".a.partial", None, 59.0, ()),
        Window(inputs[1], out.parent / ".b.partial", 59.0, None, ()),
    ]
    started = time.monotonic()
    with pytest.raises(RedactionError, match="does not exist"):
        run_segments(windows, out, Profile.STANDARD, BUNDLED, DetectionSettings(), None)
    if failing == 1:  # the worker is ended, not waited for (6 s), when this process's fails
        assert time.monotonic() - started < 3
    assert list(out.parent.iterdir()) == []
    server = fork_servers()
    redact(job(src, tmp_path / "next.mp4", None, 7.0))  # the next job's worker starts as usual
    assert len(server) == 1 and fork_servers() == server


@pytest.fixture
def busy(make_clip: MakeClip, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`redact` of a minute's clip, once both its segment processes are busy (for seconds);
    the folder it writes to. Killed at the end if it still runs."""
    out = tmp_path / "out"
    out.mkdir()
    process = redacting_in_two_processes(make_clip(frames=1800), out)
    try:
        yield process, out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_killed_job_leaves_no_fork_server_or_worker_running(
    busy: tuple[subprocess.Popen[bytes], Path],
) -> None:
    # As the kernel kills a gateway's redaction worker out of memory: the fork server, started
    # from a thread of that process, and the segment worker it forked die with it.
    process, _ = busy
    below = descendants(process.pid)
    assert len(fork_servers_of(below)) >= 2  # the server and its worker
    process.kill()
    process.communicate()
    left = [pid for pid in below if not gone(pid)]
    for pid in left:  # not to leave them running when this fails
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_a_segment_process_killed_mid_job_fails_the_command_with_a_reason(
    busy: tuple[subprocess.Popen[bytes], Path],
) -> None:
    # As the kernel kills a segment worker out of memory: `redact` printed a traceback.
    process, out = busy
    os.kill(segment_worker(process.pid), signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "redact: A segment process stopped (it ran out of memory or was killed); "
        "nothing was written."
    ]
    assert list(out.iterdir()) == []


def test_a_segment_process_that_can_no_longer_run_stops_the_command_at_its_stall_limit(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # A stopped process's watchdog is a thread of it, stopped too; `redact` took waiting for
    # it for progress and waited for ever.
    out = tmp_path / "out"
    out.mkdir()
    process = redacting_in_two_processes(make_clip(frames=1800), out, "--stall-limit", "2")
    below = descendants(process.pid)
    os.kill(segment_worker(process.pid), signal.SIGSTOP)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        for pid in [process.pid, *below]:  # not to leave them running when this fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "redact: The redaction made no progress for 2 s (a detector, the decoder or the disk "
        "hung) and was stopped; nothing was written."
    ]
    assert list(out.iterdir()) == []
    assert all(gone(pid) for pid in below)


def segment_worker(pid: int) -> int:
    """The segment worker below `pid`: the process its fork server forked."""
    servers = fork_servers_of(descendants(pid))
    return next(child for child in servers if parent_of(child) in servers)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])  # after the command name, which may hold ")"
