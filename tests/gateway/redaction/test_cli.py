"""The `redact` sub-command: argument parsing, JSON output, exit codes."""

import argparse
import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from demo.processes import alive, descendants
from gateway.cli import main
from gateway.redaction.cli import parse_polygon, parse_time, register
from gateway.redaction.detectors.centerface import bundled_model
from tests.gateway.redaction.conftest import MakeClip, redacting_in_two_processes

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12.5", 12.5),
        ("0", 0.0),
        ("00:01:02.5", 62.5),
        ("1:00:00", 3600.0),
        ("00:00:07.125", 7.125),
    ],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-1", "00:61:00", "1:2:3", "nan", "inf"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time(text)


def test_parse_polygon() -> None:
    assert parse_polygon("0,0 0.5,0 0.5,0.25") == ((0.0, 0.0), (0.5, 0.0), (0.5, 0.25))
    for bad in ("0,0 1,1", "0,0 1,1 2,2", "0;0 1,1 1,0", "a,b c,d e,f"):
        with pytest.raises(argparse.ArgumentTypeError, match="bad --mask"):
            parse_polygon(bad)


def test_register_sets_a_handler() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["redact", "a.mp4", "b.mp4", "--start", "1", "--mask", "0,0 1,0 1,1"])
    assert callable(args.handler) and args.start == 1.0 and len(args.mask) == 1
    assert args.profile == "standard" and args.stall_limit == 120.0
    assert parser.parse_args(["redact", "a", "b", "--stall-limit", "0:01:30"]).stall_limit == 90.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["redact", "a.mp4", "b.mp4", "--stall-limit", bad])
    assert args.fps is None
    rates = {"10": 10, "29.97": Fraction(2997, 100), "30000/1001": Fraction(30000, 1001)}
    for text, rate in rates.items():
        assert parser.parse_args(["redact", "a", "b", "--fps", text]).fps == rate
    for bad in ("ten", "1/0", "nan", "inf", ""):
        with pytest.raises(SystemExit):
            parser.parse_args(["redact", "a.mjpeg", "b.mp4", "--fps", bad])


def test_stopped_by_sigterm_it_leaves_no_partial_files(make_clip: MakeClip, tmp_path: Path) -> None:
    # As `kill` or `timeout` stop it: the encoders' temporary files, in both segment processes,
    # are deleted as on Ctrl-C.
    src = make_clip(frames=1800)  # a minute: two segment processes, busy for seconds
    out = tmp_path / "out"
    out.mkdir()
    process = redacting_in_two_processes(src, out, "--preview", str(out / "p.png"))
    try:
        process.terminate()
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.communicate()
    time.sleep(0.5)  # the segment worker, ended with its fork server, is gone by now
    assert list(out.iterdir()) == []


def test_json_report_is_one_object_on_stdout(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=60)
    result = subprocess.run(  # noqa: S603 - fixed argv, our own module
        [
            sys.executable,
            "-m",
            "gateway",
            "redact",
            str(src),
            str(tmp_path / "o.mp4"),
            "--start",
            "00:00:00.5",
            "--end",
            "1.5",
            "--profile",
            "masks-only",
            "--json",
            "--mask",
            "0,0 0.5,0 0.5,0.5",
            "--preview",
            str(tmp_path / "p.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frames"] == 30 and report["profile"] == "masks-only"
    for key in ("duration_s", "fps", "faces", "plates", "output_sha256"):
        assert key in report
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert (tmp_path / "p.png").is_file()


def test_failure_is_a_message_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert main(["redact", str(empty), str(tmp_path / "o.mp4"), "--profile", "masks-only"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "empty" in captured.err
    assert not (tmp_path / "o.mp4").exists()


def test_model_files_reach_the_job_and_a_bad_one_is_a_message(
    make_clip: MakeClip, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, out = make_clip(frames=3), tmp_path / "o.mp4"
    cascade = tmp_path / "plates.xml"
    cascade.write_text("<not a cascade/>")
    for profile in ("standard", "masks-only"):  # masks-only uses none, but says so now
        argv = ["redact", str(src), str(out), "--plate-model", str(cascade), "--profile", profile]
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "licence-plate model is not an OpenCV cascade file" in captured.err
        assert not out.exists()
    model = tmp_path / "faces.onnx"
    model.write_bytes(bundled_model().read_bytes())
    monkeypatch.setenv("HOME", str(tmp_path))  # as a service manager passes it, unexpanded
    argv = ["redact", str(src), str(out), "--face-model", "~/faces.onnx", "--json"]
    assert main(argv) == 0
    assert "face-model:faces.onnx" in json.loads(capsys.readouterr().out)["tools"]


def never_ending_cascade() -> str:
    """An OpenCV cascade every window passes, through 200 stages of 1000 features: minutes on a
    small frame (a resident's broken plate model, or one stuck in C code)."""
    weak = "<_><internalNodes>0 -1 0 0.0</internalNodes><leafValues>1. 1.</leafValues></_>"
    stage = (
        "<_><maxWeakCount>1000</maxWeakCount><stageThreshold>-1.0e9</stageThreshold>"
        f"<weakClassifiers>{weak * 1000}</weakClassifiers></_>"
    )
    return (
        '<?xml version="1.0"?><opencv_storage><cascade><stageType>BOOST</stageType>'
        "<featureType>HAAR</featureType><height>20</height><width>60</width>"
        "<stageParams><maxWeakCount>1000</maxWeakCount></stageParams>"
        "<featureParams><maxCatCount>0</maxCatCount><featSize>1</featSize></featureParams>"
        f"<stageNum>200</stageNum><stages>{stage * 200}</stages>"
        "<features><_><rects><_>0 0 6 4 -1.</_><_>0 2 6 2 2.</_></rects></_></features>"
        "</cascade></opencv_storage>"
    )


@pytest.mark.parametrize("frames", [30, 240], ids=["one process", "two processes"])
def test_a_detector_that_never_returns_stops_redact_at_its_stall_limit(
    make_clip: MakeClip, tmp_path: Path, frames: int
) -> None:
    # A detector's time limit is checked when its call returns, so `redact` waited for it, deaf
    # to Ctrl-C while OpenCV held the thread.
    cascade = tmp_path / "plates.xml"
    cascade.write_text(never_ending_cascade())
    src, out = make_clip(frames=frames, gop=30), tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "gateway", "redact", str(src), str(out / "o.mp4")]
    options = ["--preview", str(out / "p.png"), "--plate-model", str(cascade)]
    process = subprocess.Popen(  # noqa: S603 - our own module
        [*command, *options, "--stall-limit", "1"], stderr=subprocess.PIPE, text=True
    )
    below: set[int] = set()
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        below.update(descendants(process.pid))  # its fork server and segment worker
        time.sleep(0.05)
    process.kill()
    _, stderr = process.communicate()
    assert process.returncode == 1
    assert stderr.strip() == (
        "redact: The redaction made no progress for 1 s (a detector, the decoder or the disk "
        "hung) and was stopped; nothing was written."
    )
    assert list(out.iterdir()) == []
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in below)
