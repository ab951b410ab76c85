"""A served gateway with Ring and Nest sources, against fake Ring and Google clouds (real TLS,
the real libraries) and the REAL city app, all on loopback: `serve` captures Nest events as they
arrive, and a request for a window on Ring and Nest cameras is delivered from both, or answered
with the plain-language reason a camera cannot give footage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientSession

from city.enrollment import create_code
from gateway.audit import AuditKind
from gateway.cameras import NewCamera, add_camera
from gateway.cityclient import CityClient
from gateway.config import DataLayout, GatewayConfig, ListenAddress, Timing
from gateway.enrollment import enroll
from gateway.service import GatewayService
from gateway.sources.nest_auth import nest_sign_in
from gateway.sources.nest_cache import NestMediaCache
from gateway.sources.registry import SourceRegistry
from gateway.sources.ring import ring_sign_in
from gateway.store import GatewayStore
from protocol.timeutil import TimeWindow, utcnow
from tests.gateway.delivery_harness import City
from tests.gateway.service_harness import init_gateway
from tests.gateway.sources.conftest import StartCloud
from tests.gateway.sources.test_nest import (
    DOORBELL,
    LIVE_ONLY,
    PROJECT,
    SECRET,
    FakeSdm,
    event_message,
    received,
)
from tests.gateway.sources.test_ring import FRONT, FakeRing
from tests.gateway.test_end_to_end import request_body

SUBSCRIPTION = "projects/home-cloud/subscriptions/sdm-events"
SIDE_GATE = "987653"  # a Ring doorbell without a Protect plan (fixtures/ring_devices.json)
FAST = Timing(feed_wait_s=5, backoff_initial_s=0.05, backoff_max_s=0.5, capture_check_s=0.1)


@dataclass
class Clouds:
    ring: FakeRing
    nest: FakeSdm
    session: ClientSession  # reaches both by their real host names


@pytest.fixture
async def clouds(start_cloud: StartCloud, make_clip: Callable[..., Path], tmp_path: Path) -> Clouds:
    """Ring's and Google's hosts in one app (their paths do not overlap); Ring's motion events
    one a minute from five minutes ago."""
    base = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    ring = FakeRing(
        clip=make_clip(tmp_path / "ring.mp4", seconds=2).read_bytes(),
        events=5,
        start=base,
        require_2fa=False,
    )
    nest = FakeSdm(clip=make_clip(tmp_path / "preview.mp4", seconds=3).read_bytes(), image=b"")
    _, session = await start_cloud(nest.app(ring.app()))
    return Clouds(ring, nest, session)


async def add_ring(layout: DataLayout, session: ClientSession) -> None:
    registry = SourceRegistry(layout.root)
    await ring_sign_in(
        registry.secret_path("ring"), "resident@example.test", "hunter2", session=session
    )
    registry.add("ring", "ring")


async def add_nest(layout: DataLayout, session: ClientSession) -> None:
    """As `source add nest` does it, in a registry of its own (another process's)."""
    registry = SourceRegistry(layout.root)
    await nest_sign_in(registry.secret_path("nest"), PROJECT, SECRET, "4/0-one-time-code", session)
    registry.add(
        "nest",
        "nest",
        project_id=PROJECT.project_id,
        client_id=PROJECT.client_id,
        subscription=SUBSCRIPTION,
    )


@contextlib.asynccontextmanager
async def served(layout: DataLayout, clouds: Clouds) -> AsyncIterator[GatewayService]:
    """`serve` on loopback, its cloud sources reaching the fake clouds."""
    service = GatewayService(
        GatewayConfig(
            data=layout,
            listen=ListenAddress("127.0.0.1", 0),
            redaction_profile="masks-only",
            timing=FAST,
        ),
        sources=SourceRegistry(layout.root, session=clouds.session),
    )
    task = asyncio.ensure_future(service.run())
    try:
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def serving(tmp_path: Path, clouds: Clouds) -> AsyncIterator[GatewayService]:
    """A served gateway, not enrolled."""
    async with served(init_gateway(tmp_path / "gw")[0], clouds) as service:
        yield service


async def until(check: Callable[[], bool], what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def captured(service: GatewayService) -> list[str]:
    cache = NestMediaCache(service.sources.cache_dir("nest"))
    return [item.path.name for item in cache.media(DOORBELL)]


async def test_serve_captures_a_nest_source_as_the_source_commands_change_it(
    serving: GatewayService, clouds: Clouds, caplog: pytest.LogCaptureFixture
) -> None:
    await until(lambda: serving.bound_port is not None, "the gateway serves")
    assert serving.capture.running() == []
    await add_nest(serving.layout, clouds.session)
    at = utcnow()
    clouds.nest.queued = [
        received("a1", json.dumps(event_message(DOORBELL, at, "P1", clip=True)).encode())
    ]
    await until(lambda: clouds.nest.acked == ["a1"], "the event is pulled and acknowledged")
    assert serving.capture.running() == ["nest"]
    await until(lambda: len(captured(serving)) == 1, "the clip preview is kept")
    assert clouds.nest.hits["preview"] == 1

    # `source set` and `source remove` beside `serve`, in processes of their own
    SourceRegistry(serving.layout.root).change("nest", subscription=None)
    await until(lambda: serving.capture.running() == [], "capture stops")
    SourceRegistry(serving.layout.root).change("nest", subscription=SUBSCRIPTION)
    await until(lambda: serving.capture.running() == ["nest"], "capture starts again")
    SourceRegistry(serving.layout.root).remove("nest")
    await until(lambda: serving.capture.running() == [], "capture stops for good")
    clouds.nest.queued = [
        received("a2", json.dumps(event_message(DOORBELL, utcnow(), "P2", clip=True)).encode())
    ]
    await asyncio.sleep(0.5)
    assert clouds.nest.acked == ["a1"]  # nobody pulls for a source that is gone
    # Each capture stopped ended before its source's connections were closed: nothing failed.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_capture_that_cannot_sign_in_is_logged_once_and_recovers(
    serving: GatewayService, clouds: Clouds, caplog: pytest.LogCaptureFixture
) -> None:
    await add_nest(serving.layout, clouds.session)
    token_path = serving.sources.secret_path("nest")
    stored = json.loads(token_path.read_text())
    stored["token"]["expires_at"] = time.time() - 10  # the saved access token ran out ...
    token_path.write_text(json.dumps(stored))
    clouds.nest.refresh_allowed = False  # ... and Google refuses to renew it
    caplog.set_level(logging.INFO, logger="gateway.capture")
    await until(
        lambda: clouds.nest.hits["devices"] == 0 and "cannot be captured" in caplog.text,
        "the failure is logged",
    )
    await asyncio.sleep(0.6)  # several retries (backoff up to 0.5 s)
    failures = [r for r in caplog.records if "cannot be captured" in r.getMessage()]
    assert len(failures) == 1 and "sign in again" in failures[0].getMessage()
    assert serving.capture.running() == ["nest"]  # still trying
    clouds.nest.refresh_allowed = True  # the resident fixed the project
    await until(lambda: "captured again" in caplog.text, "capture recovers", tries=200)
    at = utcnow()
    clouds.nest.queued = [
        received("b1", json.dumps(event_message(DOORBELL, at, "P3", clip=True)).encode())
    ]
    await until(lambda: len(captured(serving)) == 1, "events are captured again")


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    """The real city app, whole, on loopback."""
    running = City.create(tmp_path / "city")
    running.full_app = True
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_a_request_is_answered_from_ring_history_and_captured_nest_events(
    tmp_path: Path, clouds: Clouds, city: City
) -> None:
    store = city.store()
    code, _ = create_code(store)
    store.close()
    layout, key = init_gateway(tmp_path / "gw")
    gw_store = GatewayStore(layout.db)
    async with CityClient(city.url) as client:
        await enroll(gw_store, key, client, code=code, label="clouds")
    pinned = gw_store.pinned_city()
    assert pinned is not None
    async with CityClient(city.url, gateway_id=pinned.gateway_id, device_key=key) as client:
        for name, source, device in (
            ("Ring front", "ring", FRONT),
            ("Ring side gate", "ring", SIDE_GATE),
            ("Nest doorbell", "nest", DOORBELL),
            ("Nest garage", "nest", LIVE_ONLY),
        ):
            await add_camera(
                gw_store,
                key,
                client,
                NewCamera(name=name, lat=41.4990, lon=-81.6940, source=source, device_id=device),
            )
    await add_ring(layout, clouds.session)
    await add_nest(layout, clouds.session)
    async with served(layout, clouds) as service:
        # A doorbell press two minutes ago: Ring recorded it (its third motion event), and
        # Nest published it to the subscription, which only the running gateway reads.
        pressed = clouds.ring.start + timedelta(minutes=2)
        message = event_message(DOORBELL, pressed, "D1", clip=True)
        clouds.nest.queued = [received("d1", json.dumps(message).encode())]
        await until(lambda: clouds.nest.acked == ["d1"], "the event is captured")
        window = TimeWindow(pressed + timedelta(seconds=0.5), pressed + timedelta(seconds=1.5))
        rid, states = await request_and_approve(city, service, window)
    by_name = {camera["name"]: camera for camera in states["cameras"]}
    assert by_name["Ring front"]["state"] == "delivered", by_name
    assert by_name["Nest doorbell"]["state"] == "delivered", by_name
    assert by_name["Ring side gate"]["state"] == "failed"
    assert "no Ring Protect" in by_name["Ring side gate"]["detail"]
    assert by_name["Nest garage"]["state"] == "failed"
    assert "sends no event clips or images" in by_name["Nest garage"]["detail"]
    assert clouds.nest.hits["preview"] == 1
    # Ring's history gives no clip length, so the clip of the event a minute before, which could
    # last until the window, is fetched as well, found to end before it, and left out (it had
    # failed the camera: "the window contains no video frames"); one part is sent.
    assert clouds.ring.hits["media"] == 2
    front = by_name["Ring front"]["registration_id"]
    entries = [e for e in service.audit.entries(rid) if e.data.get("registration_id") == front]
    assert sum(e.kind is AuditKind.FOOTAGE_FETCHED for e in entries) == 2
    [redacted] = [e for e in entries if e.kind is AuditKind.REDACTED]
    [sealed] = [e for e in entries if e.kind is AuditKind.SEALED]
    assert redacted.data["recording_id"] == "7002"  # the event at the window, part 1 of 1
    assert (sealed.data["part"], sealed.data["parts"]) == (1, 1)


async def request_and_approve(
    city: City, service: GatewayService, window: TimeWindow
) -> tuple[str, dict[str, Any]]:
    """Issue a request at the city, approve it on the gateway; its id and settled state."""
    token = service.layout.api_token.read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{city.url}/v1/admin/requests",
            json=request_body(window, "CLOUD-1"),
            headers={"Authorization": f"Bearer {city.config.admin_token}"},
        ) as answer:
            assert answer.status in (200, 201), await answer.text()
            [issued] = (await answer.json())["requests"]
        api = f"http://127.0.0.1:{service.bound_port}/api/v1/requests/{issued['request_id']}"

        async def settled(states: tuple[str, ...]) -> dict[str, Any]:
            current: dict[str, Any] = {}
            for _ in range(900):
                async with session.get(api, headers=auth) as response:
                    current = dict(await response.json()) if response.status == 200 else {}
                if current.get("state") in states:
                    return current
                await asyncio.sleep(0.1)
            raise AssertionError(f"the request never reached {states}: {current}")

        await settled(("pending",))
        async with session.post(f"{api}/approve", json={}, headers=auth) as response:
            assert response.status == 200, await response.text()
        return issued["request_id"], await settled(("delivered", "failed"))
