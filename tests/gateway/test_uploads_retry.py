"""A failed upload, retried by the resident, resumes where it stopped and arrives exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from city.problems import problem
from city.uploads import UploadReceiver
from gateway.feed import Backoff
from gateway.uploads import UploadQueue, UploadState, UploadStatus
from tests.gateway.delivery_harness import City, Resident, enroll_resident, seal_for, write_clip

pytestmark = pytest.mark.timeout(60)
PATCH = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ClockSkew:
    """Refuses every PATCH after the first with 401, as a city does when clocks disagree."""

    def __init__(self) -> None:
        self.skewed = True
        self.patches = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PATCH":
            self.patches += 1
            if self.skewed and self.patches > 1:
                await request.read()
                return problem(401, "Not authenticated", "The request's timestamp is too old.")
        return await handler(request)


@pytest.fixture
async def skewed_city(tmp_path: Path) -> AsyncIterator[tuple[City, ClockSkew]]:
    city = City.create(tmp_path / "city")
    skew = ClockSkew()
    app = web.Application(middlewares=[skew.middleware])
    store = city.store()
    app.add_routes(UploadReceiver(city.config.db_path, city.config.uploads_dir, city.keys,
                                  store.gateway_key).routes())
    city.runner = web.AppRunner(app, shutdown_timeout=1)
    await city.runner.setup()
    await web.TCPSite(city.runner, "127.0.0.1", city.port).start()
    yield city, skew
    await city.stop()
    store.close()


async def settle(queue: UploadQueue) -> UploadStatus:
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    try:
        async with asyncio.timeout(30):
            while True:
                if queue.status()[0].state in (UploadState.DELIVERED, UploadState.FAILED):
                    break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await runner
    return queue.status()[0]


async def test_a_failed_upload_resumes_on_retry_and_arrives_once(
    tmp_path: Path, skewed_city: tuple[City, ClockSkew]
) -> None:
    city, skew = skewed_city
    resident: Resident = enroll_resident(city)
    sealed = seal_for(city, resident, write_clip(tmp_path / "clip.mp4", 300_000),
                      tmp_path / "spool")
    package = sealed.package_path.read_bytes()
    queue = UploadQueue(
        tmp_path / "gateway.db", city_url=city.url, gateway_id=resident.gateway_id,
        device_key=resident.key, city_signing_key=city.keys.signing.public_key(),
        patch_size=PATCH, backoff=Backoff(0.05, 0.2),
    )
    queue.enqueue(sealed)
    failed = await settle(queue)
    assert failed.state is UploadState.FAILED and "timestamp is too old" in (failed.error or "")
    assert failed.bytes_sent == PATCH < failed.total_bytes      # partly uploaded
    # nothing to retry for another camera; the failed one goes back in the queue
    assert await queue.requeue_failed(resident.request_id, "another-camera") == 0
    skew.skewed = False
    assert await queue.requeue_failed(resident.request_id, resident.registration_id) == 1
    assert queue.status()[0].state is UploadState.QUEUED and queue.status()[0].error is None
    assert sealed.package_path.read_bytes() == package           # the same ciphertext resumes
    delivered = await settle(queue)
    assert delivered.state is UploadState.DELIVERED, delivered.error
    [upload] = city.receiver().list_uploads()                    # one upload at the city
    assert upload["state"] == "verified" and upload["length"] == len(package)
    # resumed at the offset: one PATCH before the failure, one refused, the rest after
    assert skew.patches == 2 + (len(package) - PATCH + PATCH - 1) // PATCH
    assert await queue.requeue_failed(resident.request_id, resident.registration_id) == 0
