"""Numeric progress on the event stream while a two-part answer uploads to the REAL city app."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import aiohttp

from protocol.timeutil import TimeWindow, utcnow

from .sources.conftest import write_clip
from .test_end_to_end import Flow, flow, issue

__all__ = ["flow"]


async def progress_on_stream(flow: Flow, session: aiohttp.ClientSession, rid: str,
                             seen: list[float | None], connected: asyncio.Event) -> str:
    """Append the camera's progress from each `request` event until the request settles."""
    auth = {"Authorization": f"Bearer {flow.token}"}
    async with session.get(f"{flow.api_url}/api/v1/events", headers=auth) as stream:
        kind = ""
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "request":
                data = json.loads(line.removeprefix("data: "))
                if data["id"] == rid:
                    seen.append(data["cameras"][0]["progress"])
                    if data["state"] in ("delivered", "failed"):
                        return str(data["state"])
    raise AssertionError("the event stream ended early")


async def test_progress_goes_from_zero_through_partial_to_one(
    flow: Flow, tmp_path: Path
) -> None:
    base = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    window = TimeWindow(base + timedelta(seconds=1), base + timedelta(seconds=5))
    for start in (base, base + timedelta(seconds=3)):              # two recordings: two parts
        write_clip(tmp_path / "footage" / "front" / f"front_{start:%Y%m%d_%H%M%S}.mp4",
                   seconds=3.0)
    auth = {"Authorization": f"Bearer {flow.token}"}
    seen: list[float | None] = []
    connected = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        rid = await issue(session, flow, window)
        watcher = asyncio.ensure_future(progress_on_stream(flow, session, rid, seen, connected))
        async with asyncio.timeout(10):
            await connected.wait()
        for _ in range(600):
            async with session.get(f"{flow.api_url}/api/v1/requests/{rid}",
                                   headers=auth) as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
        async with session.post(f"{flow.api_url}/api/v1/requests/{rid}/approve", json={},
                                headers=auth) as response:
            assert response.status == 200
            assert (await response.json())["cameras"][0]["progress"] == 0.0
        async with asyncio.timeout(120):
            assert await watcher == "delivered", seen
    numbers = [p for p in seen if p is not None]
    assert seen[0] is None or seen[0] == 0.0                        # pending (or just approved)
    assert numbers[0] == 0.0 and numbers[-1] == 1.0, seen
    assert any(0.0 < p < 1.0 for p in numbers), seen                 # part 1 of 2 acknowledged
    assert numbers == sorted(numbers), seen                          # it never goes back
