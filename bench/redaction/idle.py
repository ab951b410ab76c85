"""What the gateway holds while it waits for the next request, after redacting a clip.

    .venv/bin/python -m bench.redaction.idle [--rounds 3]

The gateway redacts in a worker process (`gateway.workers.RestartingPool`), one job a worker:
each job runs in a new worker, and the worker that ran it exits with it. Side by side, a worker
kept for every job (a plain one-process pool, as the gateway had it before): each runs two jobs
in turn (an 8 s window of a 720p30 clip, two segment processes and a contact sheet, as the
gateway asks for), and two seconds after each job this script sums the RSS and the PSS of every
process below it. Rounds interleave the two, and this script imports nothing of the redaction
itself, so its workers start as the gateway's do.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import Executor
from pathlib import Path

from demo.processes import descendants, pss_bytes, rss_bytes
from gateway.workers import RestartingPool, run_in_worker, worker_pool

KINDS = ("one job a worker", "worker kept")


def _pool(kind: str) -> Executor:
    context = multiprocessing.get_context("spawn")
    return RestartingPool(context) if kind == KINDS[0] else worker_pool(1, context)


def _held_mib() -> tuple[float, float]:
    """Summed RSS and PSS of every process below this one, in MiB."""
    tree = descendants(os.getpid())
    return (
        sum(rss_bytes(pid) for pid in tree) / 2**20,
        sum(pss_bytes(pid) for pid in tree) / 2**20,
    )


async def _round(kind: str, clip: Path, out: Path) -> list[tuple[float, float, float]]:
    """Two jobs on one pool: (wall seconds, RSS MiB, PSS MiB) after each."""
    # Imported here, not at the top: `spawn` workers import this module again, and the
    # gateway's own workers start without the redaction's libraries.
    from gateway.redaction.pipeline import RedactionJob, redact

    job = RedactionJob(clip, out, 0.0, 8.0, preview=out.with_suffix(".png"))
    pool = _pool(kind)
    found = []
    try:
        for _ in range(2):
            began = time.perf_counter()
            await run_in_worker(pool, 600, redact, job, stall_s=120)
            wall = time.perf_counter() - began
            await asyncio.sleep(2.0)
            found.append((wall, *_held_mib()))
    finally:
        pool.shutdown()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    default_dir = Path(tempfile.gettempdir()) / "safesmart-bench" / "redaction"
    parser.add_argument("--workdir", type=Path, default=default_dir)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    clip = args.workdir / "memory-20s.mp4"
    if not clip.exists():
        from bench.redaction.memory import make_clip

        make_clip(clip, 20)
    out = args.workdir / "idle.ours.mp4"
    rows: dict[str, list[list[tuple[float, float, float]]]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            rows[kind].append(asyncio.run(_round(kind, clip, out)))
    print(
        "| worker | first job | second job | held after the first job, RSS / PSS "
        "| held after the second job, RSS / PSS |"
    )
    print("|---|---|---|---|---|")
    for kind in KINDS:
        jobs = rows[kind]
        cells = []
        for index in range(2):
            cells.append(f"{statistics.median(r[index][0] for r in jobs):.2f} s")
        for index in range(2):
            rss = statistics.median(r[index][1] for r in jobs)
            pss = statistics.median(r[index][2] for r in jobs)
            cells.append(f"{rss:.0f} / {pss:.0f} MiB")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
