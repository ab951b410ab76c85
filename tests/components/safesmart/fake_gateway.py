"""A stand-in gateway serving the local API contract (docs/architecture.md) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "local-api-token-for-tests"  # noqa: S105 - a test token
# A real 1x1 PNG: the client checks the signature.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201c8a7d3a30000000049454e44ae426082"
)


async def wait_for(predicate: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Wait (bounded) until predicate() holds; the loop keeps serving meanwhile."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 - polls Home Assistant state, no event to await
            await asyncio.sleep(0.01)


def fixture(name: str) -> Any:
    """Load a JSON fixture shaped exactly like the contract."""
    return json.loads((FIXTURES / name).read_text())


def _problem(status: int, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": detail, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


class FakeGateway:
    """Holds health, requests and cameras; records calls; pushes SSE events on demand."""

    def __init__(self) -> None:
        """Start from the fixtures."""
        self.token = TOKEN
        self.health: dict[str, Any] = fixture("health.json")
        request = fixture("request.json")
        self.requests: dict[str, dict[str, Any]] = {request["id"]: request}
        self.cameras: list[dict[str, Any]] = fixture("cameras.json")["cameras"]
        self.calls: list[tuple[str, str, Any]] = []
        self.fail_with: int | None = None  # every non-stream route answers this status
        self.refuse_streams = False
        self.preview_png: bytes | None = PNG
        self.delay_s = 0.0  # every non-stream route answers this late
        self.raw_frames: list[bytes] = []  # sent verbatim on each new stream, after ": connected"
        self._streams: list[asyncio.Queue[bytes | None]] = []
        self.stream_opened = asyncio.Event()
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        """Serve on loopback only."""
        self.server = TestServer(self._app(), host="127.0.0.1")
        await self.server.start_server()

    async def stop(self) -> None:
        """End open streams, then the server."""
        self.end_streams()
        if self.server is not None:
            await self.server.close()

    @property
    def open_streams(self) -> int:
        """How many SSE clients are connected."""
        return len(self._streams)

    def count(self, method: str, path: str) -> int:
        """How many times a route was called."""
        return sum(1 for m, p, _ in self.calls if (m, p) == (method, path))

    def push(self, event: str, data: dict[str, Any]) -> None:
        """Send an SSE event to every connected stream."""
        frame = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        for queue in self._streams:
            queue.put_nowait(frame)

    def push_request(self, request: dict[str, Any]) -> None:
        """Store a request and announce it, as the gateway does on every change."""
        self.requests[request["id"]] = request
        self.push("request", request)

    def end_streams(self) -> None:
        """Close every open stream (the gateway restarting, a dropped link)."""
        for queue in self._streams:
            queue.put_nowait(None)

    def _app(self) -> web.Application:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _problem(401, "missing or wrong API token")
            body = await request.json() if request.can_read_body else None
            self.calls.append((request.method, request.path, body))
            if not request.path.endswith("/events"):
                await asyncio.sleep(self.delay_s)
                if self.fail_with is not None:
                    return _problem(self.fail_with, "forced failure")
            return await handler(request)

        app = web.Application(middlewares=[guard])
        p = "/api/v1"
        app.add_routes(
            [
                web.get(f"{p}/health", self._health),
                web.get(f"{p}/requests", self._list),
                web.get(f"{p}/requests/{{id}}", self._get),
                web.post(f"{p}/requests/{{id}}/approve", self._approve),
                web.post(f"{p}/requests/{{id}}/decline", self._decline),
                web.get(f"{p}/requests/{{id}}/preview", self._preview),
                web.get(f"{p}/cameras", self._cameras),
                web.put(f"{p}/privacy-mode", self._privacy),
                web.get(f"{p}/events", self._events),
            ]
        )
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self.health)

    async def _list(self, request: web.Request) -> web.Response:
        state = request.query.get("state")
        items = [r for r in self.requests.values() if state is None or r["state"] == state]
        return web.json_response({"requests": items})

    async def _get(self, request: web.Request) -> web.Response:
        if (item := self.requests.get(request.match_info["id"])) is None:
            return _problem(404, "unknown request")
        return web.json_response(item)

    async def _decide(self, request: web.Request, state: str) -> web.Response:
        if (item := self.requests.get(request.match_info["id"])) is None:
            return _problem(404, "unknown request")
        if item["state"] != "pending":
            return _problem(409, f"request is {item['state']}")
        body = await request.json() if request.can_read_body else {}
        names = {c["registration_id"] for c in item["cameras"]}
        if not set(body.get("cameras", names)) <= names:
            return _problem(422, "cameras not in the request")
        item = copy.deepcopy(item)
        item["state"] = state
        item["decided_by"] = "resident"
        self.push_request(item)
        return web.json_response(item)

    async def _approve(self, request: web.Request) -> web.Response:
        return await self._decide(request, "approved")

    async def _decline(self, request: web.Request) -> web.Response:
        return await self._decide(request, "declined")

    async def _preview(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.requests or self.preview_png is None:
            return _problem(404, "no preview yet")
        return web.Response(body=self.preview_png, content_type="image/png")

    async def _cameras(self, request: web.Request) -> web.Response:
        return web.json_response({"cameras": self.cameras})

    async def _privacy(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.health["privacy_mode"] = body["enabled"]
        return web.json_response({"privacy_mode": body["enabled"]})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_streams:
            return _problem(503, "stream refused")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._streams.append(queue)
        self.stream_opened.set()
        try:
            await response.write(b": connected\n\n")
            for raw in self.raw_frames:
                await response.write(raw)
            while (frame := await queue.get()) is not None:
                await response.write(frame)
        finally:
            self._streams.remove(queue)
        return response
