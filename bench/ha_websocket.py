"""Home Assistant's WebSocket API, subscribed to `safesmart_footage_request`, for timing."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from demo.processes import DemoError

EVENT_TYPE = "safesmart_footage_request"


class WebSocketError(DemoError):
    """Home Assistant's WebSocket API refused us or went away."""


@dataclass(frozen=True)
class Arrival:
    """One footage-request event as this client received it."""

    perf: float  # time.perf_counter() when the message arrived
    seen_at: datetime  # the same moment on the wall clock
    fired_at: datetime  # Home Assistant's time_fired


async def subscribe(
    session: aiohttp.ClientSession, ha_url: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    """Connect, authenticate with the access token and subscribe to the event."""
    ws = await session.ws_connect(f"{ha_url}/api/websocket", heartbeat=30)
    try:
        await _expect(ws, "auth_required")
        await ws.send_json({"type": "auth", "access_token": token})
        await _expect(ws, "auth_ok")
        await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": EVENT_TYPE})
        answer = await _expect(ws, "result")
        if not answer.get("success"):
            raise WebSocketError(f"Home Assistant refused the subscription: {answer}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def _expect(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, object]:
    try:
        message = await ws.receive_json(timeout=10)
    except (TimeoutError, TypeError, ValueError) as err:
        raise WebSocketError(f"no {kind!r} from Home Assistant's WebSocket API ({err})") from err
    if not isinstance(message, dict) or message.get("type") != kind:
        raise WebSocketError(f"Home Assistant's WebSocket API sent {message!r}, not {kind!r}")
    return message


class EventWatch:
    """Records when each request's event arrives; lets the benchmark wait for one."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._arrived = asyncio.Event()
        self._arrivals: dict[str, Arrival] = {}
        self._closed = False

    async def run(self) -> None:
        """Read events until the connection closes."""
        try:
            async for message in self._ws:
                # Timestamps first, before any parsing, so they are as close to arrival as can be.
                perf, seen_at = time.perf_counter(), datetime.now(UTC)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data.get("type") != "event" or data["event"]["event_type"] != EVENT_TYPE:
                    continue
                event = data["event"]
                self._arrivals[str(event["data"]["request_id"])] = Arrival(
                    perf, seen_at, datetime.fromisoformat(event["time_fired"])
                )
                self._arrived.set()
        finally:
            self._closed = True
            self._arrived.set()

    async def wait_for(self, request_id: str, deadline: float) -> Arrival | None:
        """The request's arrival, or None if none came by `deadline` (perf_counter time)."""
        while request_id not in self._arrivals:
            if self._closed:
                raise WebSocketError("Home Assistant closed the WebSocket connection")
            self._arrived.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None
        return self._arrivals[request_id]
