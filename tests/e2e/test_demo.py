"""scripts/demo's flow, run for real: console scripts, processes on loopback, real video."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=580,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("demo: ok"), result.stdout
    artifacts = tmp_path / "demo" / "artifacts"
    assert (artifacts / "contact-sheet.png").read_bytes().startswith(b"\x89PNG")
    assert len(list(artifacts.glob("city-opened-*.mp4"))) == 2
    assert len(list(artifacts.glob("*.sealed"))) == 2
