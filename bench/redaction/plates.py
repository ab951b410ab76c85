"""The plate cascade on its own: plates found, false plates and time per call, per search setting.

    .venv/bin/python -m bench.redaction.plates [--clip NAME ...] [--every 1]

Runs `HaarPlateDetector` (as the pipeline builds it, on the full frame) on every `--every`th
frame of each generated clip with each search setting (size step, neighbours), one thread, and
compares its boxes with the ground truth: a visible plate counts as found when a box contains its
centre; a box containing no plate's centre is a false plate. Time is the thread's CPU per call.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from bench.redaction.run import DEFAULT_WORKDIR, generated
from gateway.redaction.detectors.plates import HaarPlateDetector
from gateway.redaction.regions import Box

SETTINGS = ((1.1, 3), (1.15, 2), (1.15, 3), (1.2, 3))  # (size step, neighbours); 1.15, 2 is ours


def _contains(box: Box, plate: Sequence[float], width: int, height: int) -> bool:
    cx, cy = (plate[0] + plate[2]) / 2 / width, (plate[1] + plate[3]) / 2 / height
    return box.x0 <= cx <= box.x1 and box.y0 <= cy <= box.y1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clip", nargs="+", default=["street-720p", "lowlight-720p"])
    parser.add_argument("--every", type=int, default=1, help="run on every Nth frame")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # as in the segment processes
    detectors = {
        setting: HaarPlateDetector(scale_step=setting[0], neighbours=setting[1])
        for setting in SETTINGS
    }
    for name in args.clip:
        spec, clip = generated(name, args.workdir)
        truth = json.loads((args.workdir / f"{spec.name}.json").read_text())["truth"]
        tally = {setting: [0, 0, 0, 0.0] for setting in SETTINGS}  # found, plates, false, s
        with av.open(str(clip)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % args.every:
                    continue
                image = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                plates = [r["box"] for r in truth[index] if r["kind"] == "plate"]
                for setting, detector in detectors.items():
                    began = time.thread_time()
                    found = detector.detect(image)
                    counts = tally[setting]
                    counts[3] += time.thread_time() - began
                    counts[0] += sum(
                        any(_contains(b, p, spec.width, spec.height) for b in found)
                        for p in plates
                    )
                    counts[1] += len(plates)
                    counts[2] += sum(
                        not any(_contains(b, p, spec.width, spec.height) for p in plates)
                        for b in found
                    )
        calls = -(-len(truth) // args.every)
        for (step, neighbours), (hit, total, false, spent) in tally.items():
            print(
                f"{spec.name:20} step {step:<4} neighbours {neighbours}: plates found "
                f"{hit}/{total} ({100 * hit / max(total, 1):.1f} %), false plates {false}, "
                f"{1000 * spent / calls:.1f} ms per call",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
