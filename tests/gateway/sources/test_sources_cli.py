"""`source add|list|remove` and `fetch` run as the resident would run them."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.sources.cli import main

type MakeClip = Callable[..., Path]


def run(data: Path, *argv: str) -> int:
    return main(["--data", str(data), *argv])


def test_add_list_fetch_remove_folder(
    tmp_path: Path, make_clip: MakeClip, capsys: pytest.CaptureFixture[str]
) -> None:
    data, footage = tmp_path / "data", tmp_path / "footage"
    first = make_clip(footage / "porch" / "front_20261121_093000.mp4", seconds=2)
    second = make_clip(footage / "porch" / "front_20261121_093002.mp4", seconds=2)
    assert run(data, "source", "add", "folder", "home", "--path", str(footage)) == 0
    out = capsys.readouterr().out
    assert "home:porch" in out and "2026-11-21T09:30:00Z .. 2026-11-21T09:30:04Z" in out

    assert run(data, "source", "list") == 0
    assert "home (folder)" in capsys.readouterr().out

    assert run(data, "fetch", "--camera", "home:porch", "--start", "2026-11-21T09:30:01Z",
               "--end", "2026-11-21T09:30:03Z", "--out", str(tmp_path / "out")) == 0
    fetched = sorted((tmp_path / "out").iterdir())
    assert [p.read_bytes() for p in fetched] == [first.read_bytes(), second.read_bytes()]

    assert run(data, "fetch", "--camera", "home:porch", "--start", "2026-11-21T08:00:00Z",
               "--end", "2026-11-21T08:10:00Z", "--out", str(tmp_path / "none")) == 0
    assert "No recordings overlap" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()

    assert run(data, "source", "remove", "home") == 0
    assert run(data, "source", "list") == 0
    assert "No footage sources yet" in capsys.readouterr().out


def test_a_folder_of_raw_streams_is_listed_at_the_frame_rate_given(
    tmp_path: Path, make_clip: MakeClip, capsys: pytest.CaptureFixture[str]
) -> None:
    # An ESP32 doorbell's MJPEG files: 3 s at 10 fps, which FFmpeg would time as 1.2 s.
    make_clip(tmp_path / "footage" / "door" / "door_20261121_093000.mjpeg", seconds=3, fps=10)
    add = ("source", "add", "folder", "home", "--path", str(tmp_path / "footage"))
    assert run(tmp_path / "data", *add, "--frame-rate", "ten") == 1
    assert capsys.readouterr().err == (
        "error: 'ten' is not a frame rate: give frames a second, such as 10 or 30000/1001.\n")
    assert not (tmp_path / "data" / "sources.json").exists()
    assert run(tmp_path / "data", *add, "--frame-rate", "10") == 0
    assert "home:door  door  2026-11-21T09:30:00Z .. 2026-11-21T09:30:03Z" in (
        capsys.readouterr().out)


def test_a_folder_sources_settings_are_changed_in_place(
    tmp_path: Path, make_clip: MakeClip, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ESP32 doorbell's rate was given wrong: `source set` mends it without a remove.
    make_clip(tmp_path / "footage" / "door" / "door_20261121_093000.mjpeg", seconds=3, fps=10)
    data, sources_file = tmp_path / "data", tmp_path / "data" / "sources.json"
    assert run(data, "source", "add", "folder", "home", "--path", str(tmp_path / "footage"),
               "--frame-rate", "5") == 0
    assert "2026-11-21T09:30:00Z .. 2026-11-21T09:30:06Z" in capsys.readouterr().out
    assert run(data, "source", "set", "home", "--frame-rate", "10", "--clock-offset", "2") == 0
    out = capsys.readouterr().out
    assert "Changed source 'home'" in out
    assert "home:door  door  2026-11-21T09:29:58Z .. 2026-11-21T09:30:01Z" in out
    stored = sources_file.read_bytes()
    for argv, message in (
        (("--frame-rate", "ten"), "'ten' is not a frame rate"),
        (("--time-zone", "Mars/Olympus"), "'Mars/Olympus' is not a time zone name"),
        (("--path", str(tmp_path / "gone")), "does not exist or is not a folder"),
        (("--retention-days", "3"), "A folder source has no setting --retention-days."),
        ((), "Give at least one setting to change."),
    ):
        assert run(data, "source", "set", "home", *argv) == 1
        assert message in capsys.readouterr().err
        assert sources_file.read_bytes() == stored  # refused: nothing changed
    assert run(data, "source", "set", "ghost", "--clock-offset", "1") == 1
    assert "There is no source named 'ghost'." in capsys.readouterr().err
    assert run(data, "source", "set", "home", "--no-frame-rate") == 0
    assert "[raw streams that state no frame rate: their lengths are unknown]" in (
        capsys.readouterr().out)


@pytest.mark.parametrize(
    ("camera", "start", "message"),
    [
        ("porch", "2026-11-21T09:30:00Z", "SOURCE:DEVICE_ID"),
        ("home:porch", "2026-11-21 09:30", "RFC 3339"),
        ("ghost:porch", "2026-11-21T09:30:00Z", "no footage source named 'ghost'"),
        ("home:garage", "2026-11-21T09:30:00Z", "no recordings for camera 'garage'"),
    ],
)
def test_fetch_bad_input_says_why_and_writes_nothing(
    tmp_path: Path, make_clip: MakeClip, capsys: pytest.CaptureFixture[str],
    camera: str, start: str, message: str,
) -> None:
    make_clip(tmp_path / "footage" / "porch" / "front_20261121_093000.mp4")
    assert run(tmp_path / "data", "source", "add", "folder", "home",
               "--path", str(tmp_path / "footage")) == 0
    assert run(tmp_path / "data", "fetch", "--camera", camera, "--start", start,
               "--end", "2026-11-21T09:31:00Z", "--out", str(tmp_path / "out")) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ring_without_a_terminal_needs_the_code_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No secret on stdin: refused before any network call, nothing stored.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(tmp_path / "data", "source", "add", "ring", "doorbell",
               "--email", "me@example.test") == 1
    assert "No secret was given" in capsys.readouterr().err
    assert not (tmp_path / "data" / "sources.json").exists()


def test_nest_without_a_terminal_prints_the_consent_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("client-secret\n"))
    assert run(tmp_path / "data", "source", "add", "nest", "cams", "--project-id", "proj-1",
               "--client-id", "cid") == 1
    captured = capsys.readouterr()
    assert "https://nestservices.google.com/partnerconnections/proj-1/auth?" in captured.out
    assert "--code" in captured.err
    assert "client-secret" not in captured.out + captured.err
