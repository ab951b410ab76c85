"""What filling boxes out to the 8-px grid saves the encoder (docs/redaction.md).

    .venv/bin/python -m bench.redaction.grid [--clip street-720p] [--rounds 3]

Runs the pipeline once on a generated clip, keeping every decoded frame and the boxes the
pipeline filled on it, then fills and encodes those same frames again with each grid (1 px:
boxes as found) through the pipeline's `ClipWriter`. Reports the CPU time of encoding alone
(best of the rounds, all threads), the output size and the filled share of the frames. Holds
the whole clip's frames in memory (about 500 MB for the 12 s street clip).
"""

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from bench.redaction.run import clip_parser, generated
from gateway.redaction import execution, obscure
from gateway.redaction.execution import Window, execute
from gateway.redaction.obscure import FILL_Y, Planes, YuvArray, fill_boxes, planes
from gateway.redaction.profiles import DetectionSettings, Profile, build_detectors
from gateway.redaction.regions import Box
from gateway.redaction.video_input import ClipReader
from gateway.redaction.video_output import ClipWriter

GRIDS = (1, 8, 16)


def filled_by_pipeline(clip: Path, out: Path) -> list[list[Box]]:
    """The boxes the standard pipeline fills on each frame, in order."""
    boxes: list[list[Box]] = []

    def recording(yuv: Planes, found: Iterable[Box]) -> int:
        boxes.append(list(found))
        return fill_boxes(yuv, boxes[-1])

    settings = DetectionSettings()
    execution.__dict__["fill_boxes"] = recording  # the pipeline's own call, observed
    try:
        execute(
            Window(clip, out, None, None, ()),
            build_detectors(Profile.STANDARD, settings=settings),
            settings,
        )
    finally:
        execution.__dict__["fill_boxes"] = fill_boxes
    return boxes


def main(argv: list[str] | None = None) -> int:
    parser = clip_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    spec, clip = generated(args.clip, args.workdir)
    out = args.workdir / f"{spec.name}.grid.mp4"
    boxes = filled_by_pipeline(clip, out)
    with ClipReader(clip) as reader:
        info = reader.info
        frames: list[YuvArray] = [
            np.asarray(decoded.frame.to_ndarray(), dtype=np.uint8)
            for decoded in reader.frames(None, None)
        ]
    if len(frames) != len(boxes):
        raise SystemExit("the clip's frames and the pipeline's do not match")
    width, height = info.even_size
    step = round(1 / (info.rate * info.time_base))
    results: dict[int, list[float]] = {grid: [] for grid in GRIDS}
    sizes: dict[int, tuple[int, float]] = {}
    default_grid = obscure.GRID
    for _ in range(args.rounds):
        for grid in GRIDS:  # interleaved, so slow spells on a shared machine hit every grid
            obscure.GRID = grid
            covered = [frame.copy() for frame in frames]
            for frame, found in zip(covered, boxes, strict=True):
                fill_boxes(planes(frame, width, height), found)
            began = time.process_time()
            with ClipWriter(out, width, height, info.rate, info.time_base) as writer:
                for index, frame in enumerate(covered):
                    writer.write(av.VideoFrame.from_ndarray(frame, format="yuv420p"), index * step)
                writer.commit()
            results[grid].append(time.process_time() - began)
            share = sum(float((f[:height] == FILL_Y).mean()) for f in covered) / len(covered)
            sizes[grid] = (out.stat().st_size, share)
    obscure.GRID = default_grid
    report = {
        str(grid): {
            "encode_cpu_s": round(min(results[grid]), 3),
            "bytes": sizes[grid][0],
            "filled_share": round(sizes[grid][1], 4),
        }
        for grid in GRIDS
    }
    print(json.dumps({"clip": spec.name, "frames": len(frames), "grids": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
