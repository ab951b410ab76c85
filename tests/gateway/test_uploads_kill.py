"""The upload queue SIGKILLed at several points and restarted: one byte-identical package.

The queue runs in a subprocess (this module, run with `python -m ... worker`) against a real
city on 127.0.0.1 served by the test process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.opening import open_upload
from gateway.feed import Backoff
from gateway.uploads import UploadQueue, UploadState, UploadStatus
from protocol.signing import decode_ed25519_public_key, encode_public_key
from tests.gateway.delivery_harness import City, enroll_resident, seal_for, write_clip

PATCH = 256 * 1024
DEATHS = ("start", "created", "half", "last-patch")


def _should_die(die_at: str, calls: int, status: UploadStatus) -> bool:
    """The on_change moments at which the worker kills itself."""
    match die_at:
        case "start":  # marked uploading, nothing sent to the city yet
            return calls == 1
        case "created":  # the city has created the upload, no byte sent
            return calls == 2
        case "half":
            return status.bytes_sent >= status.total_bytes // 2
        case "last-patch":  # every byte sent, the receipt not yet fetched
            return status.bytes_sent == status.total_bytes
    return False


def worker(argv: list[str]) -> int:
    """Run the queue until nothing is left to deliver; optionally SIGKILL ourselves midway."""
    parser = argparse.ArgumentParser()
    for name in ("--db", "--city-url", "--gateway-id", "--device-key", "--city-key"):
        parser.add_argument(name, required=True)
    parser.add_argument("--die-at", choices=DEATHS)
    args = parser.parse_args(argv)
    key = serialization.load_pem_private_key(Path(args.device_key).read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    calls = 0
    settled = asyncio.Event()

    async def on_change(status: UploadStatus) -> None:
        nonlocal calls
        calls += 1
        if args.die_at and _should_die(args.die_at, calls, status):
            os.kill(os.getpid(), signal.SIGKILL)
        if status.state in (UploadState.DELIVERED, UploadState.FAILED):
            settled.set()

    async def main() -> int:
        queue = UploadQueue(
            Path(args.db), city_url=args.city_url, gateway_id=args.gateway_id, device_key=key,
            city_signing_key=decode_ed25519_public_key(args.city_key), patch_size=PATCH,
            on_change=on_change, backoff=Backoff(0.05, 0.2),
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(queue.run(stop))
        await settled.wait()  # the test enqueues exactly one upload
        stop.set()
        await runner
        return 0 if all(s.state is UploadState.DELIVERED for s in queue.status()) else 1

    return asyncio.run(main())


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    city = City.create(tmp_path / "city")
    await city.start()
    yield city
    await city.stop()


async def run_worker(args: list[str], die_at: str | None) -> int:
    extra = ["--die-at", die_at] if die_at else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.gateway.test_uploads_kill", "worker", *args, *extra,
        cwd=Path(__file__).parents[2],
    )
    async with asyncio.timeout(60):
        return await process.wait()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("die_at", [*DEATHS, "external"])
async def test_a_killed_queue_delivers_exactly_one_identical_package(
    tmp_path: Path, city: City, die_at: str
) -> None:
    resident = enroll_resident(city)
    clip = write_clip(tmp_path / "clip.mp4", 8 * PATCH + 77)
    sealed = seal_for(city, resident, clip, tmp_path / "spool")
    db = tmp_path / "gateway.db"
    key_file = tmp_path / "device-key.pem"
    key_file.write_bytes(resident.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    queue = UploadQueue(db, city_url=city.url, gateway_id=resident.gateway_id,
                        device_key=resident.key,
                        city_signing_key=city.keys.signing.public_key())
    queue.enqueue(sealed)
    # `--name=value`: a base64url key may start with "-", which argparse reads as an option
    args = ["--db", str(db), "--city-url", city.url, "--gateway-id", resident.gateway_id,
            "--device-key", str(key_file),
            f"--city-key={encode_public_key(city.keys.signing.public_key())}"]

    if die_at == "external":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.gateway.test_uploads_kill", "worker", *args,
            cwd=Path(__file__).parents[2])
        async with asyncio.timeout(30):
            while queue.status()[0].bytes_sent == 0:  # noqa: ASYNC110 - another process writes
                await asyncio.sleep(0.005)
        process.kill()
        assert await process.wait() == -signal.SIGKILL
    else:
        assert await run_worker(args, die_at) == -signal.SIGKILL
    (interrupted,) = queue.status()
    assert interrupted.state is not UploadState.DELIVERED or die_at == "external"

    assert await run_worker(args, None) == 0
    (status,) = queue.status()
    assert status.state is UploadState.DELIVERED, status.error
    assert not sealed.package_path.exists()
    uploads = city.receiver().list_uploads()
    assert len(uploads) == 1 and uploads[0]["state"] == "verified"
    out = tmp_path / "opened.mp4"
    open_upload(city.config.db_path, city.config.uploads_dir, city.keys,
                uploads[0]["upload_id"], out)
    assert out.read_bytes() == clip.read_bytes()


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    sys.exit(worker(sys.argv[2:]))
