"""bench.ha_latency run for real: HA, city and gateway on loopback; figures printed, all stopped."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

STAGE = r"\s+(-?\d+\.\d)"
ROW = re.compile(rf"^\s*(\d+)  ([0-9a-f]{{8}})\s+(\d+\.\d) \|{STAGE * 4}$", re.M)
SUMMARY = re.compile(
    r"^ha_latency: 3 requests, median (\d+\.\d) ms, p95 (\d+\.\d) ms, max (\d+\.\d) ms, "
    r"min (\d+\.\d) ms, over 10 s 0; target median < 1000 ms: (met|MISSED)$",
    re.M,
)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.ha_latency", *args],
        capture_output=True,
        text=True,
        timeout=500,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(540)
def test_benchmark_times_requests_into_home_assistant(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _bench("--requests", "3", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr

    rows = ROW.findall(result.stdout)
    assert [int(row[0]) for row in rows] == [0, 1, 2], result.stdout
    assert len({row[1] for row in rows}) == 3  # three different requests
    for row in rows:
        total, stages = float(row[2]), [float(value) for value in row[3:]]
        assert total > 0
        # The stages read four processes' readings of one wall clock, from just before the POST
        # to the event's arrival, so they add up to the total (timed on the monotonic clock).
        assert sum(stages) == pytest.approx(total, abs=5.0)
    summary = SUMMARY.search(result.stdout)
    assert summary is not None, result.stdout
    median, p95, top, low = (float(summary.group(i)) for i in range(1, 5))
    assert low <= median <= p95 <= top
    assert top == max(float(row[2]) for row in rows)
    assert "warm-up (not counted):" in result.stdout
    assert "Home Assistant 2025." in result.stdout

    # Every process was stopped: Home Assistant, the gateway and the city no longer listen.
    found = [
        re.search(r"server_port: (\d+)", (out / "homeassistant/configuration.yaml").read_text()),
        re.search(r"listening on 127\.0\.0\.1:(\d+)", (out / "logs/gateway.log").read_text()),
        re.search(r"http://127\.0\.0\.1:(\d+)", (out / "logs/city.log").read_text()),
    ]
    ports = [int(match.group(1)) for match in found if match is not None]
    assert len(ports) == 3
    assert not any(_listening(port) for port in ports)


@pytest.mark.parametrize("count", ["0", "501", "many"])
def test_a_bad_request_count_is_refused_before_anything_starts(tmp_path: Path, count: str) -> None:
    result = _bench("--requests", count, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "--requests" in result.stderr
    assert not (tmp_path / "run").exists()


def test_an_existing_output_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = _bench("--requests", "3", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "exists; give a new folder" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
