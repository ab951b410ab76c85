"""Sealing throughput against the bare primitives it needs, and RSS while sealing and uploading.

    .venv/bin/python -m bench.sealing --size-mib 2048 --throughput-mib 512

1. Throughput, same run, same file, best of `--rounds`: `protocol.sealing.seal_file` against a
   loop doing only what sealing must do — read 256 KiB chunks, AES-256-GCM each, SHA-256 of the
   plaintext and of the ciphertext, write the ciphertext.
2. Memory: the gateway process's RSS growth while `gateway.packaging.seal_clip` seals a
   `--size-mib` random file and `gateway.uploads.UploadQueue` delivers it to a city running in
   another process on 127.0.0.1. Files live in /tmp and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.ingest import MIB, RssSampler, city_process, deliver
from protocol.canonical import canonical_json
from protocol.sealing import CHUNK_SIZE, seal_file
from tests.gateway.delivery_harness import enroll_resident, seal_for, write_clip


def bare_primitives(src: Path, dst: Path) -> None:
    """Chunked AES-256-GCM with the two SHA-256 digests sealing computes; nothing else."""
    aead = AESGCM(os.urandom(32))
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    with src.open("rb") as source, dst.open("wb") as out:
        counter = 0
        while chunk := source.read(CHUNK_SIZE):
            plain_hash.update(chunk)
            sealed = aead.encrypt(counter.to_bytes(12, "big"), chunk, b"")
            cipher_hash.update(sealed)
            out.write(sealed)
            counter += 1


def best_seconds(run: Callable[[], object], rounds: int) -> float:
    """The fastest of `rounds` timed calls of `run()`."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def throughput(work: Path, size_mib: int, rounds: int) -> None:
    clip = write_clip(work / "throughput.bin", size_mib * MIB)
    recipient = X25519PrivateKey.generate().public_key()
    context = canonical_json({"request_id": "bench", "registration_id": "bench"})
    out = work / "out.bin"

    def fresh(write: Callable[[], object]) -> Callable[[], None]:
        """Each round writes a new file, as sealing does, and removes it."""
        def run() -> None:
            write()
            out.unlink()
        return run

    fresh(lambda: bare_primitives(clip, out))()  # warm the page cache for both contenders
    bare = best_seconds(fresh(lambda: bare_primitives(clip, out)), rounds)
    sealed = best_seconds(fresh(lambda: seal_file(clip, out, recipient, context)), rounds)
    print(f"throughput on {size_mib} MiB (best of {rounds}):")
    print(f"  bare primitives (AES-GCM chunks, 2x SHA-256, I/O): {size_mib / bare:6.0f} MiB/s")
    print(f"  protocol.sealing.seal_file:                        {size_mib / sealed:6.0f} MiB/s")
    print(f"  seal_file / bare: {bare / sealed:.0%}  (target >= 70%)")
    clip.unlink()


def memory(work: Path, size_mib: int) -> None:
    clip = write_clip(work / "clip.bin", size_mib * MIB)
    with city_process(work / "city") as (city, _):
        resident = enroll_resident(city)
        with RssSampler(os.getpid()).running() as rss:
            started = time.perf_counter()
            sealed = seal_for(city, resident, clip, work / "spool")
            sealing = time.perf_counter() - started
            uploading = asyncio.run(deliver(city, resident, sealed, work / "gateway.db"))
    growth = (rss.peak - rss.baseline) / MIB
    print(f"sealing {size_mib} MiB with seal_clip: {sealing:.1f} s "
          f"({size_mib / sealing:.0f} MiB/s); upload to the city: {uploading:.1f} s")
    print(f"gateway RSS: {rss.baseline / MIB:.1f} MiB before, peak {rss.peak / MIB:.1f} MiB, "
          f"growth {growth:.1f} MiB  (target <= 64 MiB)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--throughput-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="safesmart-sealing-", dir="/tmp") as tmp:
        throughput(Path(tmp), args.throughput_mib, args.rounds)
        memory(Path(tmp), args.size_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
