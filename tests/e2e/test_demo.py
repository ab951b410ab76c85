"""scripts/demo's flow, run for real: console scripts, processes on loopback, real video."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

HA_LINE = re.compile(
    r"^demo: Home Assistant on (http://127\.0\.0\.1:(\d+)): listening after ", re.M
)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the demo's loopback URL
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _log_in(url: str, username: str, password: str) -> dict[str, Any]:
    """Home Assistant's login flow, as its web page runs it."""
    client = {"client_id": url + "/"}
    flow = _post(
        url + "/auth/login_flow",
        {**client, "handler": ["homeassistant", None], "redirect_uri": url + "/?auth_callback=1"},
    )
    return _post(
        f"{url}/auth/login_flow/{flow['flow_id']}",
        {**client, "username": username, "password": password},
    )


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
    out = result.stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("demo: ok"), out
    artifacts = tmp_path / "demo" / "artifacts"
    assert (artifacts / "contact-sheet.png").read_bytes().startswith(b"\x89PNG")
    assert len(list(artifacts.glob("city-opened-*.mp4"))) == 2
    assert len(list(artifacts.glob("*.sealed"))) == 2

    # The Home Assistant path: the request was seen, approved and shown delivered there.
    assert "Home Assistant set up SafeSmart through its config flow" in out
    assert re.search(r"Home Assistant fired 'received' -?\d+ ms after the city was asked; "
                     r"sensor\.\w+_pending_requests = 1", out), out  # fmt: skip
    assert "approved through Home Assistant's safesmart.approve action as user 'demo'" in out
    assert re.search(r"Home Assistant fired 'delivered'; sensor\.\w+_last_delivery = \d{4}-", out)
    assert (tmp_path / "demo" / "logs" / "homeassistant.log").stat().st_size > 0
    entries = json.loads(
        (tmp_path / "demo" / "homeassistant" / ".storage" / "core.config_entries").read_text()
    )["data"]["entries"]
    assert [e["source"] for e in entries if e["domain"] == "safesmart"] == ["user"]
    audit = (artifacts / "audit-log.jsonl").read_text()
    assert '"decided_by": "resident"' in audit
    # Everything was stopped: Home Assistant no longer listens.
    match = HA_LINE.search(out)
    assert match is not None, out
    assert not _listening(int(match.group(2)))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_keeps_running_until_sigterm(tmp_path: Path) -> None:
    demo = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "demo", "--out", str(tmp_path / "demo"), "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:  # bounded by the test's timeout
            lines.append(line)
            if line.startswith("press Ctrl-C to stop"):
                break
        out = "".join(lines)
        assert any(line.startswith("demo: ok") for line in lines), out
        shown = re.search(
            r"Home Assistant is running on (http://127\.0\.0\.1:(\d+))\n"
            r"  log in as user 'demo', password '([^']+)'",
            out,
        )
        assert shown is not None, out
        url, port, password = shown.group(1), int(shown.group(2)), shown.group(3)

        # A person can log in with what the demo printed, and not with anything else.
        assert _log_in(url, "demo", password)["type"] == "create_entry"
        assert _log_in(url, "demo", password + "x")["errors"] == {"base": "invalid_auth"}

        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=60)[0]
        assert demo.returncode == 0, out + rest
        assert "stopping Home Assistant, the gateway and the city" in rest
        assert not _listening(port)
    finally:
        if demo.poll() is None:  # SIGTERM first, so that the demo stops its servers
            demo.terminate()
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
