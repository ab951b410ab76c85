"""City ingest of a large sealed upload on loopback: throughput and the city's RSS over time.

    .venv/bin/python -m bench.ingest --size-mib 2048

The city (city.app.create_app) runs in its own process; the gateway's upload queue sends a
package sealed from a random file in /tmp (deleted afterwards). The city's RSS is sampled from
/proc while it receives, writes and verifies the package.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from city.app import create_app
from city.config import CityConfig, initialise
from demo.processes import free_port, rss_bytes
from gateway.feed import Backoff
from gateway.packaging import SealedClip
from gateway.uploads import UploadQueue, UploadState, UploadStatus
from tests.gateway.delivery_harness import (
    City,
    Resident,
    enroll_resident,
    seal_for,
    write_clip,
)

MIB = 1 << 20


@dataclass
class RssSampler:
    """Samples a process's RSS every 20 ms in a thread; `peak` is the largest seen."""

    pid: int
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(rss_bytes(self.pid))

    @contextmanager
    def running(self) -> Iterator[RssSampler]:
        self.samples.append(rss_bytes(self.pid))
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    @property
    def baseline(self) -> int:
        return self.samples[0]

    @property
    def peak(self) -> int:
        return max(self.samples)


@contextmanager
def city_process(folder: Path) -> Iterator[tuple[City, subprocess.Popen[bytes]]]:
    """The reference city served by a child process on a free loopback port."""
    city = City(initialise(folder, "Benchville")[0], port=free_port())
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.ingest", "serve", str(folder), str(city.port)],
        cwd=Path(__file__).parents[1],
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", city.port), 0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the city process did not start") from None
                time.sleep(0.05)
        yield city, child
    finally:
        child.terminate()
        child.wait(10)


async def deliver(city: City, resident: Resident, sealed: SealedClip, db: Path) -> float:
    """Upload one sealed clip with the gateway's queue; returns the seconds it took."""
    stop, done = asyncio.Event(), asyncio.Event()

    async def settled(status: UploadStatus) -> None:
        if status.state in (UploadState.DELIVERED, UploadState.FAILED):
            done.set()

    queue = UploadQueue(db, city_url=city.url, gateway_id=resident.gateway_id,
                        device_key=resident.key, city_signing_key=city.keys.signing.public_key(),
                        on_change=settled, backoff=Backoff(0.1, 1.0))
    queue.enqueue(sealed)
    started = time.perf_counter()
    runner = asyncio.create_task(queue.run(stop))
    await done.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    await runner
    (status,) = queue.status()
    if status.state is not UploadState.DELIVERED:
        raise RuntimeError(f"the upload failed: {status.error}")
    return elapsed


def serve(folder: Path, port: int) -> None:
    """Child process: the city app on 127.0.0.1:port until terminated."""
    web.run_app(create_app(CityConfig.load(folder)), host="127.0.0.1", port=port,
                print=None, access_log=None)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(Path(argv[1]), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="safesmart-ingest-", dir="/tmp") as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.bin", args.size_mib * MIB)
        with city_process(work / "city") as (city, child):
            resident = enroll_resident(city)
            sealed = seal_for(city, resident, clip, work / "spool")
            clip.unlink()
            with RssSampler(child.pid).running() as city_rss:
                seconds = asyncio.run(deliver(city, resident, sealed, work / "gateway.db"))
        size = sealed.ciphertext_size
        print(f"ingest of {size / MIB:.0f} MiB over loopback (receive + fsync + verify): "
              f"{seconds:.1f} s, {size / MIB / seconds:.0f} MiB/s")
        growth = (city_rss.peak - city_rss.baseline) / MIB
        print(f"city RSS: {city_rss.baseline / MIB:.1f} MiB before, "
              f"peak {city_rss.peak / MIB:.1f} MiB, growth {growth:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
