"""Coverage over every detection schedule: each clip redacted from each of its first frames.

    .venv/bin/python -m bench.redaction.schedules [--clip NAME ...] [--starts 15]

Detection runs on every 5th frame and the plate cascade on every 3rd detection frame, both
counted from the first frame detected on, so one run of a clip sees one schedule, and where a
face or plate comes into view between two detection frames, or between two cascade runs, is
luck. A window that starts inside a clip is detected on from its lead-in, a second earlier
(`DetectionSettings.lead_in_s`), so a window starting on frame 30 + k is detected on from frame
k: k = 0 .. starts - 1 shifts both schedules against the content, and with 15 starts every
combination runs once (the generated clips' faces and plates come into view on frame 45, inside
every such window). Each run is one process with the default settings, measured against the
ground truth from the window's first frame on. Prints each run's shift k, coverage, false and
extra area and, per clip, the mean and the worst (the highest, for areas). Each process writes
its own output file, so several runs can go side by side.
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import cv2

from bench.redaction.coverage import measure, percent
from bench.redaction.generate import FPS
from bench.redaction.run import DEFAULT_WORKDIR, NAMED, generated
from gateway.redaction.execution import Window, execute
from gateway.redaction.profiles import DetectionSettings, Profile, build_detectors

CLIPS = (
    "street-720p",
    "lowlight-720p",
    "street-1080p",
    "street-720p-4mbit",
    "lowlight-720p-4mbit",
    "porch-720p-4mbit",
)
FIGURES = (  # (column, summary key, group)
    ("all faces", "face_coverage", None),
    ("24-47 px", "by_size", "24-47"),
    ("LFW crops", "by_source", "lfw"),
    ("plates", "plate_coverage", None),
    ("false area", "false_obscured_area", None),
    ("extra area", "extra_obscured_area", None),
)
AREAS = ("false area", "extra area")  # lower is better; the others are shares covered


def figure(summary: dict[str, Any], key: str, group: str | None) -> float | None:
    value = summary[key] if group is None else summary[key].get(group)
    return None if value is None else float(value)


def run(name: str, shift: int, workdir: Path) -> dict[str, Any]:
    """One process redacting the clip from its lead-in's length plus `shift` frames (detected
    on from frame `shift`), measured from the window's start."""
    spec, clip = generated(name, workdir)
    truth = json.loads((workdir / f"{spec.name}.json").read_text())["truth"]
    out = workdir / f"{spec.name}.schedules.{os.getpid()}.mp4"  # runs side by side: one each
    settings = DetectionSettings()
    start = round(settings.lead_in_s * FPS) + shift
    window = Window(clip, out, start / FPS, None, ())
    try:
        execute(window, build_detectors(Profile.STANDARD, settings=settings), settings)
        return measure(clip, out, truth, skip=start).summary()
    finally:
        out.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clip", nargs="+", default=list(CLIPS), choices=sorted(NAMED))
    parser.add_argument("--starts", type=int, default=15, help="schedule shifts to run")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # as in the segment processes
    header = " | ".join(column for column, _, _ in FIGURES)
    print(f"| clip | shift | {header} |")
    print("|---" * (len(FIGURES) + 2) + "|")
    table: list[tuple[str, list[list[float | None]]]] = []
    for name in args.clip:
        runs: list[list[float | None]] = []
        for shift in range(args.starts):
            found = run(name, shift, args.workdir)
            values = [figure(found, key, group) for _, key, group in FIGURES]
            runs.append(values)
            cells = " | ".join(
                percent(v, 2 if column in AREAS else 1)
                for (column, _, _), v in zip(FIGURES, values, strict=True)
            )
            print(f"| {name} | {shift} | {cells} |", flush=True)
        table.append((name, runs))
    print(f"\nEach cell: the mean over the starts; the worst start.\n\n| clip | runs | {header} |")
    print("|---" * (len(FIGURES) + 2) + "|")
    for name, runs in table:
        means = []
        for i, (column, _, _) in enumerate(FIGURES):
            present = [value for value in (row[i] for row in runs) if value is not None]
            if not present:
                means.append("n/a")
                continue
            worst = max(present) if column in AREAS else min(present)
            digits = 2 if column in AREAS else 1
            means.append(f"{percent(statistics.mean(present), digits)}; {percent(worst, digits)}")
        print(f"| {name} | {len(runs)} | {' | '.join(means)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
