"""The local API on a real loopback server: token, every route, decision errors, SSE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.api import create_api
from gateway.config import GatewayConfig
from gateway.events import EventBus, EventKind
from gateway.feed import RequestIntake
from gateway.inbox import RequestState
from gateway.service import GatewayService
from protocol.timeutil import TimeWindow

from .service_harness import CityServer, Gateway, city, gateway
from .test_feed import envelope, fresh_request

__all__ = ["city", "gateway"]
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Api:
    service: GatewayService
    client: TestClient[Any, Any]
    token: str
    city: CityServer
    gateway: Gateway

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def add_request(self, **changes: Any) -> str:
        """A signed request arriving through the real intake (verification included)."""
        intake = RequestIntake(
            store=self.service.store, inbox=self.service.inbox, audit=self.service.audit,
            replay=self.service.replay, rules_path=self.gateway.layout.rules,
            on_change=self.service.on_request_change,
        )
        request = fresh_request(self.gateway, **changes)
        assert intake.accept(envelope(self.city.double.signing, request)) is not None
        return request.request_id

    async def call(self, method: str, path: str, **kwargs: Any) -> ClientResponse:
        return await self.client.request(method, "/api/v1" + path, headers=self.auth, **kwargs)


@pytest.fixture
async def api(
    gateway: Gateway, city: CityServer, aiohttp_client: ClientFactory
) -> AsyncIterator[Api]:
    service = GatewayService(GatewayConfig(data=gateway.layout))
    client = await aiohttp_client(create_api(service))
    yield Api(service, client, service.api_token(), city, gateway)


def routes(api: Api) -> list[tuple[str, str]]:
    out = []
    for resource in api.client.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter", "")
        for route in resource:
            if route.method != "HEAD":
                out.append((route.method, path.replace("{id}", "some-id")))
    return out


async def test_every_route_needs_the_token(api: Api) -> None:
    assert len(routes(api)) == 10
    for method, path in routes(api):
        for headers in ({}, {"Authorization": "Bearer wrong-token"},
                        {"Authorization": f"Basic {api.token}"}):
            response = await api.client.request(method, path, headers=headers)
            assert response.status == 401, (method, path, headers)
            assert response.content_type == "application/problem+json"
            problem = await response.json()
            assert problem["status"] == 401 and problem["title"] and problem["detail"]


async def test_health_and_cameras(api: Api) -> None:
    health = await (await api.call("GET", "/health")).json()
    assert health["status"] == "ok" and health["enrolled"] is True
    assert health["gateway_id"] == api.service.gateway_id
    assert health["pending"] == 0 and health["privacy_mode"] is False
    assert health["city"]["name"] == "City of Testing" and health["city"]["connected"] is False
    cameras = (await (await api.call("GET", "/cameras")).json())["cameras"]
    assert [c["name"] for c in cameras] == ["Front door", "Driveway"]
    assert cameras[0]["location"]["precision"] == "block"
    assert set(cameras[0]) == {"registration_id", "name", "source", "device_id", "status",
                               "location", "footage"}


async def test_requests_list_get_and_filters(api: Api) -> None:
    first, second = api.add_request(), api.add_request()
    listed = (await (await api.call("GET", "/requests")).json())["requests"]
    assert [r["id"] for r in listed] == [second, first]
    pending = (await (await api.call("GET", "/requests?state=pending")).json())["requests"]
    assert len(pending) == 2
    assert (await (await api.call("GET", "/requests?state=delivered")).json())["requests"] == []
    assert (await api.call("GET", "/requests?state=bogus")).status == 422
    one = await (await api.call("GET", f"/requests/{first}")).json()
    assert one["id"] == first and one["state"] == "pending" and len(one["approval_nonce"]) >= 43
    missing = await api.call("GET", "/requests/no-such-request")
    assert missing.status == 404 and (await missing.json())["status"] == 404
    assert (await (await api.call("GET", "/health")).json())["pending"] == 2


async def test_approve_errors_change_nothing(api: Api) -> None:
    rid = api.add_request()
    before = api.service.inbox.get(rid)
    window = before.request.window
    outside = TimeWindow(window.start - timedelta(minutes=5), window.end)
    cases: list[tuple[str, Any, int]] = [
        ("/requests/unknown/approve", {}, 404),
        (f"/requests/{rid}/approve", {"cameras": ["reg-not-ours"]}, 422),
        (f"/requests/{rid}/approve", {"cameras": []}, 422),
        (f"/requests/{rid}/approve", {"window": outside.to_json()}, 422),
        (f"/requests/{rid}/approve", {"window": {"start": "yesterday"}}, 422),
        (f"/requests/{rid}/approve", {"colour": "red"}, 422),
        (f"/requests/{rid}/approve", "[1, 2]", 400),
        (f"/requests/{rid}/approve", "{not json", 400),
        (f"/requests/{rid}/approve", "x" * 70_000, 413),
    ]
    for path, body, status in cases:
        data = body if isinstance(body, str) else json.dumps(body)
        response = await api.call("POST", path, data=data)
        assert response.status == status, (path, body, await response.text())
        assert response.content_type == "application/problem+json"
        assert api.service.inbox.get(rid) == before
    assert len(api.service.audit.entries(rid)) == 1


async def test_showing_a_request_is_logged_once(api: Api) -> None:
    from gateway.audit import AuditKind

    rid = api.add_request()
    for _ in range(3):
        assert (await api.call("GET", f"/requests/{rid}")).status == 200
    kinds = [e.kind for e in api.service.audit.entries(rid)]
    assert kinds == [AuditKind.REQUEST_RECEIVED, AuditKind.REQUEST_SHOWN]


async def test_approve_then_conflicts(api: Api) -> None:
    rid = api.add_request()
    item = api.service.inbox.get(rid)
    front = api.gateway.cameras[0].registration_id
    narrower = TimeWindow(item.request.window.start + timedelta(minutes=5),
                          item.request.window.end - timedelta(minutes=5))
    response = await api.call("POST", f"/requests/{rid}/approve",
                              json={"cameras": [front], "window": narrower.to_json()})
    assert response.status == 200
    body = await response.json()
    assert body["state"] == "approved" and body["decided_by"] == "resident"
    assert {c["registration_id"]: c["state"] for c in body["cameras"]}[front] == "approved"
    after = api.service.inbox.get(rid)
    for path in (f"/requests/{rid}/approve", f"/requests/{rid}/decline"):
        conflict = await api.call("POST", path, json={})
        assert conflict.status == 409
        assert api.service.inbox.get(rid) == after
    assert after.approved_window == narrower


async def test_retry_refusals_change_nothing(api: Api) -> None:
    rid = api.add_request()
    before = api.service.inbox.get(rid)
    cases: list[tuple[str, Any, int]] = [
        ("/requests/unknown/retry", {}, 404),
        (f"/requests/{rid}/retry", {}, 409),          # nothing failed (and not running)
        (f"/requests/{rid}/retry", {"cameras": []}, 422),
        (f"/requests/{rid}/retry", {"reply": "x"}, 422),
        (f"/requests/{rid}/retry", "[1]", 400),
    ]
    for path, body, status in cases:
        response = await api.call("POST", path, data=json.dumps(body))
        assert response.status == status, (path, body, await response.text())
        problem = await response.json()
        assert problem["status"] == status and problem["detail"]
    assert api.service.inbox.get(rid) == before


async def test_decline_is_private_unless_replied(api: Api) -> None:
    quiet, replied = api.add_request(), api.add_request()
    response = await api.call("POST", f"/requests/{quiet}/decline", json={})
    assert (await response.json())["state"] == "declined"
    assert api.city.double.replies == []
    assert (await api.call("POST", f"/requests/{replied}/decline",
                           json={"reply": ""})).status == 422
    assert api.service.inbox.get(replied).state is RequestState.PENDING
    response = await api.call("POST", f"/requests/{replied}/decline",
                              json={"reply": "Camera was off that night."})
    assert response.status == 200
    assert len(api.city.double.replies) == 1
    sent = api.city.double.replies[0]
    assert sent["domain"] == "decline-reply"
    assert sent["body"]["reply"] == "Camera was off that night."
    assert (await api.call("POST", "/requests/unknown/decline", json={})).status == 404


async def test_preview_and_privacy_mode(api: Api) -> None:
    rid = api.add_request()
    assert (await api.call("GET", f"/requests/{rid}/preview")).status == 404
    assert (await api.call("GET", "/requests/unknown/preview")).status == 404
    sheet = api.service.preview_path(rid)
    assert sheet is not None
    sheet.parent.mkdir(parents=True)
    sheet.write_bytes(b"\x89PNG\r\n\x1a\nfake-but-bytes")
    response = await api.call("GET", f"/requests/{rid}/preview")
    assert response.status == 200 and response.content_type == "image/png"
    assert await response.read() == sheet.read_bytes()
    for bad in ({}, {"enabled": "yes"}, {"enabled": True, "extra": 1}):
        assert (await api.call("PUT", "/privacy-mode", json=bad)).status == 422
    assert api.service.store.privacy_mode is False
    answer = await (await api.call("PUT", "/privacy-mode", json={"enabled": True})).json()
    assert answer == {"privacy_mode": True} and api.service.store.privacy_mode


async def _read_event(response: ClientResponse, kind: str) -> dict[str, Any]:
    """Read SSE lines until an event of `kind` arrives; returns its data."""
    current = None
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            current = line.removeprefix("event: ")
        elif line.startswith("data: ") and current == kind:
            return dict(json.loads(line.removeprefix("data: ")))


async def test_events_stream_delivers_requests_and_health(api: Api) -> None:
    streams = [await api.call("GET", "/events") for _ in range(2)]
    for stream in streams:
        assert stream.status == 200 and stream.content_type == "text/event-stream"
        assert await asyncio.wait_for(stream.content.readline(), 5) == b": connected\n"
    rid = api.add_request()
    for stream in streams:
        event = await _read_event(stream, "request")
        assert event["id"] == rid and event["state"] == "pending"
    await api.call("PUT", "/privacy-mode", json={"enabled": True})
    health = await _read_event(streams[0], "health")
    assert health["privacy_mode"] is True
    await api.call("POST", f"/requests/{rid}/decline", json={})
    assert (await _read_event(streams[1], "request"))["state"] == "declined"
    for stream in streams:
        stream.close()


async def test_keepalive_comment(gateway: Gateway, aiohttp_client: ClientFactory) -> None:
    service = GatewayService(GatewayConfig(data=gateway.layout))
    service.keepalive_s = 0.05
    client = await aiohttp_client(create_api(service))
    stream = await client.get("/api/v1/events",
                              headers={"Authorization": f"Bearer {service.api_token()}"})
    lines = [await asyncio.wait_for(stream.content.readline(), 5) for _ in range(4)]
    assert lines[0] == b": connected\n" and b": keepalive\n" in lines[1:]
    stream.close()


async def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    bus = EventBus(capacity=3)
    async with bus.subscribe() as slow, bus.subscribe() as fast:
        for n in range(10):
            bus.publish(EventKind.REQUEST, {"n": n})
            got = await fast.next(1)
            assert got is not None and got.data == {"n": n}
        assert slow.closed.is_set() and bus.subscriber_count == 1
        assert not fast.closed.is_set()
    assert bus.subscriber_count == 0


async def test_token_rotation_takes_effect_without_restart(api: Api) -> None:
    from gateway.keys import create_api_token

    new, _ = create_api_token(api.gateway.layout.api_token, rotate=True)
    assert (await api.call("GET", "/health")).status == 401
    response = await api.client.get("/api/v1/health", headers={"Authorization": f"Bearer {new}"})
    assert response.status == 200


def test_route_table_matches_the_openapi_document(tmp_path: Path) -> None:
    import yaml

    spec = yaml.safe_load((Path(__file__).parents[2] / "docs/openapi/gateway.yaml").read_text())
    documented = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}
    app = create_api(GatewayControlForRoutes())  # type: ignore[arg-type]
    served = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter", "")
        served |= {(route.method, path) for route in resource if route.method != "HEAD"}
    assert served == documented


class GatewayControlForRoutes:
    """Only the route table is read; no handler runs."""
