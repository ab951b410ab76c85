"""The upload queue against a real city on 127.0.0.1: delivery, resumption, outages, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.opening import open_upload
from city.verification import VerificationError
from gateway.audit import AuditLog
from gateway.feed import Backoff
from gateway.inbox import CameraState, Inbox
from gateway.packaging import SealedClip
from gateway.uploadmirror import UploadMirror
from gateway.uploads import UploadQueue, UploadState, UploadStatus
from tests.gateway.delivery_harness import (
    City,
    Resident,
    city,
    enroll_resident,
    resident,
    seal_for,
    write_clip,
    write_video,
)
from tests.gateway.test_inbox import KEY
from tests.gateway.trust_factories import NOW, make_request, signed

__all__ = ["city", "resident"]  # fixtures
pytestmark = pytest.mark.timeout(60)
PATCH = 256 * 1024


def make_queue(tmp_path: Path, city: City, resident: Resident,
               on_change: Callable[[UploadStatus], Awaitable[None]] | None = None,
               pinned: Ed25519PrivateKey | None = None) -> UploadQueue:
    return UploadQueue(
        tmp_path / "gateway.db", city_url=city.url, gateway_id=resident.gateway_id,
        device_key=resident.key,
        city_signing_key=(pinned or city.keys.signing).public_key(),
        patch_size=PATCH, on_change=on_change, backoff=Backoff(0.05, 0.2),
    )


async def run_until_settled(queue: UploadQueue, stop: asyncio.Event | None = None) -> UploadStatus:
    """Run the queue until its only upload is delivered or failed (or `stop` is set)."""
    stop = stop or asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    try:
        async with asyncio.timeout(30):
            while not stop.is_set():
                (status,) = queue.status()
                if status.state in (UploadState.DELIVERED, UploadState.FAILED):
                    break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await runner
    (status,) = queue.status()
    return status


def city_outage(
    city: City, seconds: float, log: list[str]
) -> Callable[[UploadStatus], Awaitable[None]]:
    """An on_change hook that stops the city once two chunks are sent and starts it again
    `seconds` later, logging "down" and "back"."""

    async def restart_later() -> None:
        await asyncio.sleep(seconds)
        await city.start()
        log.append("back")

    async def take_city_down(status: UploadStatus) -> None:
        if status.bytes_sent >= 2 * PATCH and not log:
            log.append("down")
            await city.stop()
            asyncio.get_running_loop().create_task(restart_later())

    return take_city_down


def the_upload(city: City) -> dict[str, object]:
    uploads = city.receiver().list_uploads()
    assert len(uploads) == 1, uploads
    return uploads[0]


def opened(city: City, tmp_path: Path) -> bytes:
    upload_id = str(the_upload(city)["upload_id"])
    out = tmp_path / "opened.mp4"
    open_upload(city.config.db_path, city.config.uploads_dir, city.keys, upload_id, out)
    return out.read_bytes()


async def test_a_real_clip_arrives_byte_identical_and_the_spool_is_cleared(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    clip = write_video(tmp_path / "redacted.mp4", frames=60)
    sealed = seal_for(city, resident, clip, tmp_path / "spool")
    seen: list[UploadState] = []

    async def record(status: UploadStatus) -> None:
        seen.append(status.state)

    queue = make_queue(tmp_path, city, resident, on_change=record)
    queue.enqueue(sealed)
    status = await run_until_settled(queue)
    assert status.state is UploadState.DELIVERED, status.error
    assert status.bytes_sent == status.total_bytes == sealed.ciphertext_size
    assert status.acknowledgement is not None
    assert status.acknowledgement["body"]["manifest_sha256"] == sealed.upload_key
    assert not sealed.package_path.exists()
    assert seen[0] is UploadState.UPLOADING and seen[-1] is UploadState.DELIVERED
    assert the_upload(city)["state"] == "verified"
    assert opened(city, tmp_path) == clip.read_bytes()


async def test_enqueue_is_persisted_and_idempotent(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    sealed = seal_for(city, resident, write_clip(tmp_path / "c.mp4", 1000), tmp_path / "spool")
    first = make_queue(tmp_path, city, resident).enqueue(sealed)
    again = make_queue(tmp_path, city, resident).enqueue(sealed)
    assert first == again
    assert first.state is UploadState.QUEUED and first.total_bytes == sealed.ciphertext_size
    assert [s.upload_key for s in make_queue(tmp_path, city, resident).status()] == [
        sealed.upload_key
    ]
    assert make_queue(tmp_path, city, resident).status("another-request") == []


async def test_a_stopped_queue_resumes_from_the_citys_offset(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    clip = write_clip(tmp_path / "c.mp4", 5 * PATCH + 123)
    sealed = seal_for(city, resident, clip, tmp_path / "spool")
    stop = asyncio.Event()

    async def stop_midway(status: UploadStatus) -> None:
        if status.bytes_sent >= 2 * PATCH:
            stop.set()

    queue = make_queue(tmp_path, city, resident, on_change=stop_midway)
    queue.enqueue(sealed)
    partial = await run_until_settled(queue, stop)
    assert partial.state is UploadState.UPLOADING
    assert 0 < partial.bytes_sent < partial.total_bytes

    sent: list[int] = []

    async def progress(status: UploadStatus) -> None:
        sent.append(status.bytes_sent)

    status = await run_until_settled(make_queue(tmp_path, city, resident, on_change=progress))
    assert status.state is UploadState.DELIVERED, status.error
    # The second run started where the city was, not at zero.
    assert min(sent) == partial.bytes_sent
    assert partial.bytes_sent + PATCH in sent and PATCH not in sent
    assert opened(city, tmp_path) == clip.read_bytes()


async def test_an_upload_survives_the_city_going_down_and_coming_back(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    clip = write_clip(tmp_path / "c.mp4", 6 * PATCH)
    sealed = seal_for(city, resident, clip, tmp_path / "spool")
    outage: list[str] = []
    queue = make_queue(tmp_path, city, resident, on_change=city_outage(city, 0.5, outage))
    queue.enqueue(sealed)
    status = await run_until_settled(queue)
    assert outage == ["down", "back"]
    assert status.state is UploadState.DELIVERED, status.error
    assert status.attempts >= 2  # at least one attempt failed against the stopped city
    assert opened(city, tmp_path) == clip.read_bytes()


async def test_a_city_that_is_not_running_yet_is_retried(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    await city.stop()
    sealed = seal_for(city, resident, write_clip(tmp_path / "c.mp4", 1000), tmp_path / "spool")
    failures: list[UploadStatus] = []

    async def note(status: UploadStatus) -> None:
        if status.error is not None:  # each new attempt clears the last one's error
            failures.append(status)

    queue = make_queue(tmp_path, city, resident, on_change=note)
    queue.enqueue(sealed)
    stop = asyncio.Event()
    runner = asyncio.create_task(queue.run(stop))
    await asyncio.sleep(0.4)
    assert len(failures) >= 2  # retried while the city was down
    for waiting in failures:
        assert waiting.state is UploadState.UPLOADING
        assert waiting.error is not None and "could not be reached" in waiting.error
    await city.start()
    stop.set()
    await runner
    status = await run_until_settled(queue)
    assert status.state is UploadState.DELIVERED, status.error


async def test_a_tampered_spool_is_rejected_and_nothing_opens(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    sealed = seal_for(city, resident, write_clip(tmp_path / "c.mp4", 3 * PATCH),
                      tmp_path / "spool")
    flip_byte(sealed, sealed.ciphertext_size // 2)
    queue = make_queue(tmp_path, city, resident)
    queue.enqueue(sealed)
    status = await run_until_settled(queue)
    assert status.state is UploadState.FAILED
    assert status.error is not None and "HTTP 422" in status.error
    assert sealed.package_path.exists()  # kept: nothing was acknowledged
    assert the_upload(city)["state"] == "rejected"
    with pytest.raises(VerificationError):
        opened(city, tmp_path)
    assert not (tmp_path / "opened.mp4").exists()


async def test_a_receipt_not_signed_by_the_pinned_city_key_is_not_trusted(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    sealed = seal_for(city, resident, write_clip(tmp_path / "c.mp4", 1000), tmp_path / "spool")
    queue = make_queue(tmp_path, city, resident, pinned=Ed25519PrivateKey.generate())
    queue.enqueue(sealed)
    status = await run_until_settled(queue)
    assert status.state is UploadState.FAILED
    assert status.error is not None and "receipt does not verify" in status.error
    assert sealed.package_path.exists()


async def test_a_request_the_city_never_issued_fails_with_its_reason(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    stranger = Resident(resident.key, resident.gateway_id, resident.registration_id,
                        "5b0d7c1e-0000-4000-8000-000000000000")
    sealed = seal_for(city, stranger, write_clip(tmp_path / "c.mp4", 1000), tmp_path / "spool")
    queue = make_queue(tmp_path, city, resident)
    queue.enqueue(sealed)
    status = await run_until_settled(queue)
    assert status.state is UploadState.FAILED
    assert status.error is not None and "no footage request" in status.error
    assert city.receiver().list_uploads() == []


def flip_byte(sealed: SealedClip, position: int) -> None:
    with sealed.package_path.open("r+b") as package:
        package.seek(position)
        byte = package.read(1)
        package.seek(position)
        package.write(bytes([byte[0] ^ 0x01]))


async def test_delivery_through_the_city_app_factory(tmp_path: Path) -> None:
    city = City.create(tmp_path / "city")
    city.full_app = True  # city.app.create_app with its middlewares, not the bare receiver
    await city.start()
    try:
        resident = enroll_resident(city)
        clip = write_clip(tmp_path / "c.mp4", 3 * PATCH)
        queue = make_queue(tmp_path, city, resident)
        queue.enqueue(seal_for(city, resident, clip, tmp_path / "spool"))
        status = await run_until_settled(queue)
        assert status.state is UploadState.DELIVERED, status.error
        assert opened(city, tmp_path) == clip.read_bytes()
    finally:
        await city.stop()


async def test_a_camera_says_why_its_upload_waits_once_and_shows_progress_when_it_resumes(
    tmp_path: Path, city: City, resident: Resident
) -> None:
    rid, reg = resident.request_id, resident.registration_id
    inbox = Inbox(tmp_path / "gateway.db")
    request = make_request(request_id=rid, registration_ids=(reg,))
    inbox.add(*signed(KEY, request), [(reg, "Front door", 40.0)], NOW)
    inbox.approve(rid, cameras=None, window=None, decided_by="resident", now=NOW)
    details: list[str | None] = []
    # Several attempts fail while the city is down (backoff 0.05-0.2 s).
    take_city_down = city_outage(city, 0.6, [])

    async def on_change(status: UploadStatus) -> None:
        await take_city_down(status)
        await mirror.on_upload_change(status)

    queue = make_queue(tmp_path, city, resident, on_change=on_change)
    mirror = UploadMirror(inbox=inbox, audit=AuditLog(tmp_path / "gateway.db", resident.key),
                          uploads=queue,
                          on_change=lambda item: details.append(item.camera(reg).detail))
    queue.enqueue(seal_for(city, resident, write_clip(tmp_path / "c.mp4", 6 * PATCH),
                           tmp_path / "spool"))
    status = await run_until_settled(queue)

    assert status.state is UploadState.DELIVERED, status.error
    assert status.attempts >= 3  # the outage cost more than one failed attempt
    waiting = [d for d in details if d and d.endswith("Trying again.")]
    assert waiting == ["The city could not be reached (ClientConnectorError). Trying again."]
    after = details[details.index(waiting[0]) + 1 :]
    assert after and all(d and d.startswith("uploading (") for d in after[:-1])
    assert after[0] is not None
    assert int(after[0].removeprefix("uploading (").split()[0]) > 0  # resumed, not restarted
    assert inbox.get(rid).camera(reg).state is CameraState.DELIVERED
