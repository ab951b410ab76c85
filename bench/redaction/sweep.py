"""Why the defaults: each detection setting changed on its own, measured on one clip.

    .venv/bin/python -m bench.redaction.sweep [--clip street-720p] [--workdir DIR]

Runs the pipeline in this process (one process, no segments) with each setting on the same
generated clip and prints speed and coverage side by side (docs/redaction.md quotes the table).
CPU time per frame (all threads of this process) is steadier than wall-clock speed when other
work shares the machine.
"""

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

import cv2

from bench.redaction.coverage import measure, percent
from bench.redaction.run import clip_parser, generated
from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, RgbImage
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
    """(label, settings, detectors) for the default and each alternative, one change at a time."""
    changes: list[tuple[str, DetectionSettings]] = [
        ("default: second look, hold 6, margin 1 %, dilation 50 %", base),
        (
            "one pass at threshold 0.1 (no second look)",
            replace(base, face_threshold=0.1, face_candidate_threshold=None),
        ),
        ("second look from 0.05 instead of 0.02", replace(base, face_candidate_threshold=0.05)),
        ("hold 0: nothing carried on, arrivals not grown", replace(base, hold=0)),
        ("hold 2: carried for two detection frames", replace(base, hold=2)),
        ("no looking back for a box found late", replace(base, look_back=False)),
        ("looking back one detection frame, not three", replace(base, look_back_reach=1)),
        ("no minimum margin", replace(base, margin=0.0)),
        ("dilation 30 %", replace(base, dilation=0.3)),
        ("every 3rd frame", replace(base, every=3)),
        ("every 8th frame", replace(base, every=8)),
        ("detection 640 px wide", replace(base, width=640)),
        ("detection 800 px wide", replace(base, width=800)),
        ("plates on every 2nd detection frame", replace(base, plate_hold=2)),
        (
            "faces' first pass and plates on the whole frame every time (not where it changed)",
            replace(base, changed_regions=False),
        ),
    ]
    rows = [
        (label, settings, build_detectors(Profile.STANDARD, settings=settings))
        for label, settings in changes
    ]
    faces_only = build_detectors(Profile.STANDARD, settings=base)[:1]
    small_plates = HeldDetector(HaarPlateDetector(max_width=base.width), base.plate_hold)
    rows.append(("plates on the 736 px detection frame", base, [*faces_only, small_plates]))
    fine_plates = HeldDetector(HaarPlateDetector(scale_step=1.1, neighbours=3), base.plate_hold)
    rows.append(("plates: scale step 1.1, 3 neighbours", base, [*faces_only, fine_plates]))
    plates = HeldDetector(HaarPlateDetector(), base.plate_hold)
    rows.append(("Haar frontal face instead of CenterFace", base, [HaarFaceDetector(), plates]))
    rows.append(("CenterFace only (no plate cascade)", base, faces_only))
    # What decoding, obscuring and encoding cost without any detector: the floor under all rows.
    rows.append(("no detectors (plain decode + re-encode)", base, []))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = clip_parser(__doc__.splitlines()[0] if __doc__ else None)
    args = parser.parse_args(argv)
    spec, clip = generated(args.clip, args.workdir)
    truth = json.loads((args.workdir / f"{spec.name}.json").read_text())["truth"]
    out = args.workdir / f"{spec.name}.sweep.mp4"
    print(
        "| settings | fps (1 process) | CPU ms/frame | photo faces | LFW crops | 24-47 px "
        "| plates | false area | extra area |"
    )
    print("|---" * 9 + "|")
    for label, settings, detectors in variants(DetectionSettings()):
        began, cpu = time.perf_counter(), time.process_time()
        execute(Window(clip, out, None, None, ()), detectors, settings)
        fps = len(truth) / (time.perf_counter() - began)
        cpu_ms = (time.process_time() - cpu) * 1000 / len(truth)
        found = measure(clip, out, truth).summary()
        source, size = found["by_source"], found["by_size"]
        print(
            f"| {label} | {fps:.1f} | {cpu_ms:.1f} | {percent(source['photo'])} | "
            f"{percent(source['lfw'])} | "
            f"{percent(size['24-47'])} | {percent(found['plate_coverage'])} | "
            f"{percent(found['false_obscured_area'], 2)} | "
            f"{percent(found['extra_obscured_area'], 2)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
