"""Where one CenterFace pass spends its time: onnxruntime's own profile, per operator.

    .venv/bin/python -m bench.redaction.model_profile [--size 736x416] [--runs 30] [--top 5]

Runs the bundled model as the pipeline does (one thread, free input size) on scikit-image's
astronaut scaled to the detection frame, `--runs` times after one warm-up, and prints the mean
time per pass of each operator type and of the dearest single nodes with their shapes.
"""

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from gateway.redaction.detectors.centerface import INPUT, OUTPUTS, bundled_model, session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", default="736x416", help="detection frame, WIDTHxHEIGHT")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=5, help="dearest single nodes to list")
    args = parser.parse_args(argv)
    width, height = (int(side) for side in args.size.split("x"))
    photo = skimage.data.astronaut()  # type: ignore[no-untyped-call]
    image = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        model = session(bundled_model().read_bytes(), threads=1, profile=f"{folder}/ort")
        model.run(list(OUTPUTS), {INPUT: blob})  # warm-up, left out below
        for _ in range(args.runs):
            model.run(list(OUTPUTS), {INPUT: blob})
        events = json.loads(Path(model.end_profiling()).read_text())
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    kernels = kernels[len(kernels) // (args.runs + 1) :]  # drop the warm-up pass
    by_op: Counter[str] = Counter()
    by_node: Counter[str] = Counter()
    shapes = {}
    for event in kernels:
        by_op[event["args"]["op_name"]] += event["dur"]
        by_node[event["name"]] += event["dur"]
        shapes[event["name"]] = event["args"].get("output_type_shape")
    total = sum(by_op.values()) / args.runs / 1000
    print(f"CenterFace at {width}x{height}, one thread: {total:.2f} ms of kernels per pass")
    for op, micros in by_op.most_common():
        ms = micros / args.runs / 1000
        print(f"  {op:16} {ms:6.2f} ms  {100 * ms / total:5.1f} %")
    print("dearest nodes:")
    for name, micros in by_node.most_common(args.top):
        node = name.removesuffix("_kernel_time")
        output = [next(iter(shape.values())) for shape in shapes[name] or []]
        print(f"  {micros / args.runs / 1000:6.2f} ms  {node}  -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
