"""Minimal text/event-stream parser (WHATWG server-sent events) over an aiohttp stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

MAX_EVENT_BYTES = 1024 * 1024


async def iter_sse(
    stream: aiohttp.StreamReader, idle_timeout: float
) -> AsyncIterator[tuple[str, str]]:
    """Yield (event name, data) pairs; raise TimeoutError after idle_timeout s of silence."""
    name = "message"
    data: list[str] = []
    size = 0
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                raw = await stream.readline()
        except ValueError as err:  # aiohttp refuses a line longer than its buffer
            raise aiohttp.ClientPayloadError("The gateway sent an oversized event line") from err
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data, size = "message", [], 0
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            size += len(value)
            if size > MAX_EVENT_BYTES:
                raise aiohttp.ClientPayloadError("The gateway sent an oversized event")
            data.append(value)
