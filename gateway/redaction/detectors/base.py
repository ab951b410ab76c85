"""The one small interface every detector implements, so a resident can plug in a better model."""

import math
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from gateway.redaction.errors import DetectionError
from gateway.redaction.regions import Box

RgbImage = npt.NDArray[np.uint8]  # (height, width, 3) RGB
# The frame at full resolution, converted on first call; a detector that finds a doubtful small
# region may look at it more closely there.
FullFrame = Callable[[], RgbImage]


class DetectionKind(StrEnum):
    """What a detector finds; reports count each kind separately."""

    FACE = "face"
    PLATE = "plate"


@runtime_checkable
class Detector(Protocol):
    """Finds regions to obscure in one RGB frame; boxes are normalised to 0..1 of that frame.

    `image` is the frame downscaled for detection; `full`, when given, returns the same frame at
    full resolution (most detectors never need it).
    """

    kind: DetectionKind

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Boxes with scores; raise on any failure (the pipeline then stops: fail closed)."""
        ...

    def versions(self) -> dict[str, str]:
        """Tool and model identities for the report, e.g. {"centerface.onnx": "<sha256>"}."""
        ...


@runtime_checkable
class Refinding(Protocol):
    """A detector that can look again for a target near where it is expected, on the frame at
    full resolution: a plate between runs of its cascade (held.py), a face the detection frame
    before missed (execution.py, looking back), a face carried on to where it should be
    (execution.py, looking near)."""

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        """Targets of about `around`'s size near it, in the full-resolution frame, within `reach`
        of its sides around it (None: as far as the detector looks by default)."""
        ...


def run_detector(
    kind: DetectionKind, find: Callable[[], Sequence[Box]], where: str, timeout_s: float
) -> list[Box]:
    """`find()`, one call of a `kind` detector, whose failure, overrun or useless box stops the
    job (fail closed), on video and on pictures alike. `where`: "on the frame at 00:12", "on the
    picture". The time limit is checked when the call returns: a hung model is not interrupted
    (the gateway's watchdog ends the job)."""
    began = time.perf_counter()
    try:
        boxes = list(find())
    except Exception as exc:
        raise DetectionError(
            f"The {kind} detector failed {where}; nothing was written. "
            "Try again, or use a different detector model."
        ) from exc
    if time.perf_counter() - began > timeout_s:
        raise DetectionError(
            f"The {kind} detector took over {timeout_s:.0f} s {where}; nothing was written."
        )
    _check_boxes(kind, boxes, where)
    return boxes


def _check_boxes(kind: DetectionKind, boxes: Sequence[Box], where: str) -> None:
    """Stop the job (fail closed) on a box whose coordinates or score are not numbers (NaN or
    infinite, as a resident's own model may give), or whose corners are the wrong way round: it
    would cover nothing, or stop the job later with an error that names no cause."""
    for box in boxes:
        if not all(map(math.isfinite, (box.x0, box.y0, box.x1, box.y1, box.score))):
            raise DetectionError(
                f"The {kind} detector returned a box {where} that is not a number (a NaN or "
                "infinite coordinate or score); nothing was written. Use a different detector "
                "model."
            )
        if box.x1 < box.x0 or box.y1 < box.y0:  # it would cover nothing
            raise DetectionError(
                f"The {kind} detector returned a box {where} whose corners are the wrong way "
                "round (x1 < x0 or y1 < y0); nothing was written. Use a different detector model."
            )
