"""The gateway process SIGKILLed at several points of an answer, then restarted: the city
ends with exactly one verified, byte-identical clip, and no worker process outlives the kill."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.footage import write_clip
from demo.processes import alive, descendants, run, wait_until
from demo.stack import CITY, HOME, CameraSpec, Stack, request_body, start_stack

CLIP_START = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """City and enrolled gateway; one camera whose folder holds a 20 s clip from CLIP_START."""
    write_clip(tmp_path / "footage" / "front" / f"front_{CLIP_START:%Y%m%d_%H%M%S}.mp4", CLIP_START)
    running = start_stack(tmp_path, tmp_path / "footage", [CameraSpec("front", "Front", *HOME)])
    try:
        yield running
    finally:
        running.stop()


def kill_gateway(stack: Stack) -> None:
    assert stack.gateway is not None
    process = stack.gateway.process
    workers = set(descendants(process.pid))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    wait_until("the gateway's workers to die with it", lambda: not any(map(alive, workers)), 15)


def request_of(stack: Stack, request_id: str) -> dict[str, Any]:
    """The gateway's view of the request ({} until the feed has brought it in)."""
    try:
        result: dict[str, Any] = stack.gateway_api("GET", f"/api/v1/requests/{request_id}")
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
        return {"state": None, "preview": {"status": None}}
    return result


def state(stack: Stack, request_id: str) -> str | None:
    return request_of(stack, request_id)["state"]  # type: ignore[no-any-return]


def preview(stack: Stack, request_id: str) -> str | None:
    return request_of(stack, request_id)["preview"]["status"]  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("moment", ["preparing preview", "just approved", "uploading"])
def test_killed_gateway_delivers_exactly_once(stack: Stack, moment: str) -> None:
    stack.start_gateway()
    window = (CLIP_START + timedelta(seconds=4), CLIP_START + timedelta(seconds=14))
    request_id = stack.issue(request_body("KILL-1", HOME, *window))
    wait_until("the request", lambda: state(stack, request_id) == "pending", 30)
    if moment == "preparing preview":
        wait_until("the preview to start", lambda: preview(stack, request_id) == "preparing", 60)
        kill_gateway(stack)
        stack.start_gateway()
        stack.gateway_api("POST", f"/api/v1/requests/{request_id}/approve", {})
    else:
        wait_until("the preview", lambda: preview(stack, request_id) == "ready", 240)
        stack.gateway_api("POST", f"/api/v1/requests/{request_id}/approve", {})
        if moment == "uploading":
            sent = ("uploading", "delivered")
            wait_until("the upload", lambda: state(stack, request_id) in sent, 120)
        kill_gateway(stack)
        stack.start_gateway()

    final = wait_until(
        "delivery after the restart",
        lambda: (r := request_of(stack, request_id))["state"] in ("delivered", "failed") and r,
        240,
    )
    assert final["state"] == "delivered", final

    uploads = json.loads(run([CITY, "uploads", "--data", str(stack.city_data)], "uploads"))
    mine = [u for u in uploads if u["request_id"] == request_id]
    assert len(mine) == 1, mine
    assert mine[0]["state"] == "verified"
    opened = stack.out / "opened.mp4"
    opening = [CITY, "open", mine[0]["upload_id"], "--out", str(opened)]
    manifest = json.loads(run([*opening, "--data", str(stack.city_data)], "open"))["manifest"]
    assert hashlib.sha256(opened.read_bytes()).hexdigest() == manifest["redacted_sha256"]
    assert not list((stack.gateway_data / "spool").glob("*.sealed"))
    log = run([*stack.gateway_cli, "audit", "verify"], "audit verify")
    assert "intact" in log, log
    assert os.path.exists(stack.out / "logs" / "gateway-2.log")
