"""The whole flow against the REAL city app on loopback: issue → push → approve → redact →
seal → upload → the city verifies and acknowledges → delivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from city.app import create_app
from city.config import CityConfig, initialise
from city.enrollment import create_code
from city.keys import CityKeys
from city.opening import open_upload
from city.store import CityStore
from city.uploads import UploadReceiver
from gateway.audit import AuditKind
from gateway.cameras import NewCamera, add_camera
from gateway.cityclient import CityClient
from gateway.config import GatewayConfig, ListenAddress, Timing
from gateway.enrollment import enroll
from gateway.service import GatewayService
from gateway.sources.registry import SourceRegistry
from gateway.store import GatewayStore
from protocol.timeutil import TimeWindow, format_time, utcnow

from .service_harness import init_gateway
from .sources.conftest import write_clip
from .test_cli import arun


@dataclass
class Flow:
    city_url: str
    admin: str
    api_url: str
    token: str
    service: GatewayService
    city_data: Path


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[Flow]:
    initialise(tmp_path / "city", "Test City")
    config = CityConfig.load(tmp_path / "city")
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    city_url = str(server.make_url("")).rstrip("/")
    store = CityStore(config.db_path)
    code, _ = create_code(store)
    store.close()
    layout, key = init_gateway(tmp_path / "gw")
    (tmp_path / "footage").mkdir()
    SourceRegistry(layout.root).add("folder", "yard", root=str(tmp_path / "footage"))
    gw_store = GatewayStore(layout.db)
    async with CityClient(city_url) as client:
        await enroll(gw_store, key, client, code=code, label="e2e")
    pinned = gw_store.pinned_city()
    assert pinned is not None
    async with CityClient(city_url, gateway_id=pinned.gateway_id, device_key=key) as client:
        await add_camera(gw_store, key, client, NewCamera(
            name="Front", lat=41.4990, lon=-81.6940, source="yard", device_id="front",
            masks=(((0.0, 0.0), (0.5, 0.0), (0.5, 0.5)),)))
    service = GatewayService(GatewayConfig(
        data=layout, listen=ListenAddress("127.0.0.1", 0), redaction_profile="masks-only",
        timing=Timing(feed_wait_s=5, backoff_initial_s=0.05, backoff_max_s=0.5,
                      sources_refresh_s=0.1)))
    task = asyncio.ensure_future(service.run())
    for _ in range(200):
        if service.bound_port:
            break
        await asyncio.sleep(0.05)
    try:
        yield Flow(city_url, config.admin_token, f"http://127.0.0.1:{service.bound_port}",
                   layout.api_token.read_text().strip(), service, tmp_path / "city")
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)
        await server.close()


async def test_issue_approve_deliver(flow: Flow, tmp_path: Path) -> None:
    now = utcnow()
    window_start = now - timedelta(hours=2)
    clip_start = window_start - timedelta(seconds=1)
    write_clip(tmp_path / "footage" / "front" / f"front_{clip_start:%Y%m%d_%H%M%S}.mp4",
               seconds=4.0)
    auth = {"Authorization": f"Bearer {flow.token}"}
    async with aiohttp.ClientSession() as session:
        window = TimeWindow(window_start, window_start + timedelta(seconds=2))
        rid = await issue(session, flow, window, case="E2E-1")

        async def state() -> dict[str, Any]:
            async with session.get(f"{flow.api_url}/api/v1/requests/{rid}",
                                   headers=auth) as response:
                return dict(await response.json()) if response.status == 200 else {}

        for _ in range(600):
            current = await state()
            if current.get("preview", {}).get("status") in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert current["state"] == "pending" and current["preview"]["status"] == "ready"
        async with session.post(f"{flow.api_url}/api/v1/requests/{rid}/approve", json={},
                                headers=auth) as response:
            assert response.status == 200
        for _ in range(600):
            current = await state()
            if current["state"] in ("delivered", "failed"):
                break
            await asyncio.sleep(0.1)
    assert current["state"] == "delivered", current
    kinds = [e.kind for e in flow.service.audit.entries(rid)]
    for kind in (AuditKind.REQUEST_RECEIVED, AuditKind.REQUEST_DECIDED, AuditKind.SEALED,
                 AuditKind.UPLOAD_DONE, AuditKind.UPLOAD_ACKNOWLEDGED):
        assert kind in kinds
    # the ciphertext is gone once the city acknowledged (the signed manifest is kept)
    spool = flow.service.layout.spool

    def packages() -> list[str]:
        return [p.name for p in spool.iterdir() if not p.name.endswith(".manifest.json")]

    for _ in range(100):   # the queue deletes it right after reporting delivery
        if not packages():
            break
        await asyncio.sleep(0.05)
    assert packages() == []
    # the redacted and original copies are gone; only the resident's preview is kept
    work = flow.service.layout.work / rid
    assert [p.name for p in work.iterdir()] == ["preview.png"]


async def test_the_local_api_shows_the_footage_each_camera_holds(
    flow: Flow, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {flow.token}"}

    async def footage() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(
            f"{flow.api_url}/api/v1/cameras", headers=auth
        ) as response:
            [camera] = (await response.json())["cameras"]
        return dict(camera["footage"])

    assert await footage() == {"start": None, "end": None}
    start = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    write_clip(tmp_path / "footage" / "front" / f"front_{start:%Y%m%d_%H%M%S}.mp4", seconds=2.0)
    for _ in range(100):  # the gateway asks its sources again every 0.1 s here (5 min)
        if (shown := await footage())["start"] is not None:
            break
        await asyncio.sleep(0.05)
    assert shown == {"start": format_time(start),
                     "end": format_time(start + timedelta(seconds=2))}


def request_body(window: TimeWindow, case: str = "E2E-2") -> dict[str, Any]:
    now = utcnow()
    return {
        "case_number": case, "agency": {"name": "PD", "id": "pd"},
        "officer": {"name": "Det. E", "badge": "7", "email": "e@city.example", "phone": ""},
        "incident": {"type": "burglary", "description": "door",
                     "point": {"lat": 41.4994, "lon": -81.6944}, "radius_m": 300},
        "window": window.to_json(), "respond_by": format_time(now + timedelta(days=1)),
        "legal_basis": "voluntary",
        "disclosures": {"retention_days": 30, "may_become_public_record": False,
                        "may_be_asked_to_testify": False,
                        "name_may_appear_in_court_documents": False, "notes": ""},
    }


async def issue(
    session: aiohttp.ClientSession, flow: Flow, window: TimeWindow, case: str = "E2E-2"
) -> str:
    """Issue a footage request through the city's admin API; returns its request id."""
    async with session.post(f"{flow.city_url}/v1/admin/requests",
                            json=request_body(window, case),
                            headers={"Authorization": f"Bearer {flow.admin}"}) as answer:
        assert answer.status in (200, 201), await answer.text()
        [issued] = (await answer.json())["requests"]
    return str(issued["request_id"])


async def test_two_recordings_arrive_as_two_parts_after_a_retry(
    flow: Flow, tmp_path: Path
) -> None:
    base = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    window = TimeWindow(base + timedelta(seconds=1), base + timedelta(seconds=5))
    auth = {"Authorization": f"Bearer {flow.token}"}
    async with aiohttp.ClientSession() as session:
        rid = await issue(session, flow, window)

        async def wait_for(states: tuple[str, ...]) -> dict[str, Any]:
            for _ in range(600):
                async with session.get(f"{flow.api_url}/api/v1/requests/{rid}",
                                       headers=auth) as response:
                    current = dict(await response.json()) if response.status == 200 else {}
                if current.get("state") in states:
                    return current
                await asyncio.sleep(0.1)
            raise AssertionError(f"request never reached {states}: {current}")

        await wait_for(("pending",))
        async with session.post(f"{flow.api_url}/api/v1/requests/{rid}/approve", json={},
                                headers=auth) as response:
            assert response.status == 200
        failed = await wait_for(("failed", "delivered"))      # the camera's folder is empty
        assert failed["state"] == "failed" and failed["cameras"][0]["detail"]
        for start in (base, base + timedelta(seconds=3)):      # the NVR's files arrive
            write_clip(tmp_path / "footage" / "front" / f"front_{start:%Y%m%d_%H%M%S}.mp4",
                       seconds=3.0)
        async with session.post(f"{flow.api_url}/api/v1/requests/{rid}/retry", json={},
                                headers=auth) as response:
            assert response.status == 200, await response.text()
        delivered = await wait_for(("delivered", "failed"))
        assert delivered["state"] == "delivered", delivered
    # through the CLI: nothing failed any more, so the gateway refuses (409)
    code, _, err = await arun(flow.service.layout.root, "requests", "--api", flow.api_url,
                              "retry", rid)
    assert code == 2 and "(409)" in err and "no failed camera" in err

    config = CityConfig.load(flow.city_data)
    receiver = UploadReceiver(config.db_path, config.uploads_dir, CityKeys.load_or_create(
        config.keys_dir, config.name), lambda _: None)
    uploads = [u for u in receiver.list_uploads() if u["request_id"] == rid]
    assert sorted((u["part"], u["parts"], u["state"]) for u in uploads) == [
        (1, 2, "verified"), (2, 2, "verified")]               # each part exactly once
    clips = []
    for upload in sorted(uploads, key=lambda u: int(u["part"])):
        opened = open_upload(config.db_path, config.uploads_dir, receiver.keys,
                             str(upload["upload_id"]), tmp_path / f"part{upload['part']}.mp4")
        clips.append(TimeWindow.from_json(opened["manifest"]["clip"]))
    assert clips[0].start == window.start and clips[1].end == window.end
    assert abs((clips[1].start - clips[0].end).total_seconds()) < 0.2   # contiguous
    assert all(window.contains(clip) for clip in clips)
