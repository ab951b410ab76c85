"""Why the defaults: detection interval, threshold and face detector, measured on one clip.

    .venv/bin/python -m bench.redaction.sweep [--clip street-720p] [--workdir DIR]

Runs the pipeline in this process (one process, no segments) with each setting on the same
generated clip and prints speed and coverage side by side (docs/redaction.md quotes the table).
"""

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2

from bench.redaction.coverage import measure
from bench.redaction.generate import generate
from bench.redaction.run import FULL
from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, RgbImage
from gateway.redaction.detectors.centerface import CenterFaceDetector
from gateway.redaction.detectors.held import HeldDetector
from gateway.redaction.detectors.plates import HaarPlateDetector, bundled_cascades
from gateway.redaction.execution import Window, execute
from gateway.redaction.profiles import DetectionSettings, Profile, build_detectors
from gateway.redaction.regions import Box


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade: the no-model-file alternative to CenterFace."""

    kind = DetectionKind.FACE

    def __init__(self) -> None:
        path = bundled_cascades() / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        height, width = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(gray, 1.1, 3, minSize=(10, 10))
        return [
            Box(x / width, y / height, (x + w) / width, (y + h) / height) for x, y, w, h in found
        ]

    def versions(self) -> dict[str, str]:
        return {"opencv": cv2.__version__}


def variants(base: DetectionSettings) -> list[tuple[str, DetectionSettings, list[Detector]]]:
    """(label, settings, detectors) for each measured alternative."""
    rows = []
    for every in (1, 3, 5, 8):
        for threshold in (0.2, 0.1):
            settings = replace(base, every=every, face_threshold=threshold)
            label = f"CenterFace {base.width}, every {every}, threshold {threshold}"
            rows.append((label, settings, build_detectors(Profile.STANDARD, None, settings)))
    for width in (640, 800):
        sized = replace(base, width=width)
        label = f"CenterFace {width}, every {base.every}, threshold {base.face_threshold}"
        rows.append((label, sized, build_detectors(Profile.STANDARD, None, sized)))
    haar_faces: list[Detector] = [HaarFaceDetector(), HeldDetector(HaarPlateDetector(), 2)]
    rows.append((f"Haar frontal face {base.width}, every {base.every}", base, haar_faces))
    faces_only: list[Detector] = [CenterFaceDetector(None, base.face_threshold)]
    rows.append((f"CenterFace only (no plates), every {base.every}", base, faces_only))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clip", default="street-720p")
    default_dir = Path(tempfile.gettempdir()) / "safesmart-bench" / "redaction"
    parser.add_argument("--workdir", type=Path, default=default_dir)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    spec = next(s for s in FULL if s.name == args.clip)
    clip = args.workdir / f"{spec.name}.mp4"
    if not clip.exists():
        generate(spec, args.workdir)
    truth = json.loads((args.workdir / f"{spec.name}.json").read_text())["truth"]
    out = args.workdir / f"{spec.name}.sweep.mp4"
    print(
        "| settings | fps (1 process) | photo faces | LFW crops | 24-47 px | plates | false area |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, settings, detectors in variants(DetectionSettings()):
        began = time.perf_counter()
        execute(Window(clip, out, None, None, ()), detectors, settings)
        fps = len(truth) / (time.perf_counter() - began)
        found = measure(clip, out, truth).summary()
        source, size = found["by_source"], found["by_size"]
        print(
            f"| {label} | {fps:.1f} | {100 * source['photo']:.1f} % | "
            f"{100 * source['lfw']:.1f} % | {100 * size['24-47']:.1f} % | "
            f"{100 * (found['plate_coverage'] or 0):.1f} % | "
            f"{100 * (found['false_obscured_area'] or 0):.2f} % |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
