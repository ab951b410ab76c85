"""Memory stays flat in clip length: peak RSS of the whole `redact` process tree, short vs long.

    .venv/bin/python -m bench.redaction.memory [--seconds 20 120]

Clips are generated (moving index pattern plus noise, 720p30); the redact CLI runs on each while
this script samples the CLI process and every descendant (segment workers and the fork server)
from /proc every 20 ms: the sum of their RSS (pages they share, such as libraries, counted once
per process) and of their PSS (shared pages split between them: what the tree holds).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from demo.processes import descendants, pss_bytes, rss_bytes

ROOT = Path(__file__).resolve().parents[2]


def make_clip(path: Path, seconds: int) -> None:
    """A 1280x720 30 fps clip with a moving bright square over a noisy background."""
    rng = np.random.default_rng(3)
    noise = [rng.integers(60, 120, (720, 1280, 3), dtype=np.uint8) for _ in range(8)]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(seconds * 30):
            image = noise[index % len(noise)].copy()
            x = (index * 7) % 1100
            image[300:400, x : x + 100] = 250
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def peak_memory_mib(argv: list[str]) -> tuple[float, float, float]:
    """Run a command; return the peak summed RSS and PSS of its process tree in MiB, and the
    wall seconds it took."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: S603
    rss = pss = 0
    while process.poll() is None:
        tree = [process.pid, *descendants(process.pid)]
        rss = max(rss, sum(rss_bytes(pid) for pid in tree))
        pss = max(pss, sum(pss_bytes(pid) for pid in tree))
        time.sleep(0.02)
    if process.returncode != 0:
        raise SystemExit(f"redact failed with exit code {process.returncode}")
    return rss / 2**20, pss / 2**20, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, nargs="+", default=[20, 120])
    default_dir = Path(tempfile.gettempdir()) / "safesmart-bench" / "redaction"
    parser.add_argument("--workdir", type=Path, default=default_dir)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| clip | frames | peak RSS, whole process tree | peak PSS, whole process tree | wall |")
    print("|---|---|---|---|---|")
    for seconds in args.seconds:
        clip = args.workdir / f"memory-{seconds}s.mp4"
        if not clip.exists():
            make_clip(clip, seconds)
        out = args.workdir / f"memory-{seconds}s.ours.mp4"
        gateway = Path(sys.executable).with_name("safesmart-gateway")
        # With a contact sheet, as the gateway asks for: its thumbnails are kept as it goes.
        preview = out.with_suffix(".png")
        cli = [str(gateway), "redact", str(clip), str(out), "--preview", str(preview)]
        rss, pss, wall = peak_memory_mib(cli)
        frames = seconds * 30
        print(f"| 720p30, {seconds} s | {frames} | {rss:.0f} MiB | {pss:.0f} MiB | {wall:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
