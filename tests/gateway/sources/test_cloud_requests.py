"""A served gateway with Ring and Nest sources, against fake Ring and Google clouds (real TLS,
the real libraries) and the REAL city app, all on loopback: `serve` captures Nest events as they
arrive, and a request for a window on Ring and Nest cameras is delivered from both, or answered
with the plain-language reason a camera cannot give footage."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession

from gateway.config import DataLayout, GatewayConfig, ListenAddress, Timing
from gateway.service import GatewayService
from gateway.sources.nest_auth import nest_sign_in
from gateway.sources.nest_cache import NestMediaCache
from gateway.sources.registry import SourceRegistry
from gateway.sources.ring import ring_sign_in
from protocol.timeutil import utcnow
from tests.gateway.service_harness import init_gateway
from tests.gateway.sources.conftest import StartCloud
from tests.gateway.sources.test_nest import (
    DOORBELL,
    PROJECT,
    SECRET,
    FakeSdm,
    event_message,
    received,
)
from tests.gateway.sources.test_ring import FakeRing

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


@pytest.fixture
async def serving(tmp_path: Path, clouds: Clouds) -> AsyncIterator[GatewayService]:
    """A served gateway, not enrolled, whose cloud sources reach the fake clouds."""
    layout, _ = init_gateway(tmp_path / "gw")
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


async def until(check: Callable[[], bool], what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def captured(service: GatewayService) -> list[str]:
    cache = NestMediaCache(service.sources.cache_dir("nest"))
    return [item.path.name for item in cache.media(DOORBELL)]


async def test_serve_captures_a_nest_source_added_while_it_runs_until_it_is_removed(
    serving: GatewayService, clouds: Clouds
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

    SourceRegistry(serving.layout.root).remove("nest")  # `source remove` beside `serve`
    await until(lambda: serving.capture.running() == [], "capture stops")
    clouds.nest.queued = [
        received("a2", json.dumps(event_message(DOORBELL, utcnow(), "P2", clip=True)).encode())
    ]
    await asyncio.sleep(0.5)
    assert clouds.nest.acked == ["a1"]  # nobody pulls for a source that is gone


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
