"""Looking back for a target on the detection frame before the one that found it.

The detectors miss a small face now and then (grain, blur, a face half out from behind
something), and the cover plan only grows a box it cannot match on the previous detection
frame (cover_plan.arrivals), which does not reach a fast face where it was a whole step
earlier. So such a box is looked for on the previous detection frame by its picture: the
place near it, within a few of its sides, whose pixels correlate best with the box's. Found
there, the cover plan has its step and covers the frames before along its path. A picture that
changed too much to match (the face was half behind something there) is left to the detector,
which looks for its target near there on the full-resolution frame (execution.py).
"""

import cv2
import numpy as np
import numpy.typing as npt

from gateway.redaction.regions import Box

Gray = npt.NDArray[np.uint8]
# How far a target may have moved between two detection frames, in its own sides (the
# benchmark's fastest small face: two sides between detection frames).
REACH_SIDES = 3
# The correlation a place needs to be taken for the target (TM_CCOEFF_NORMED): the benchmark's
# missed faces in compressed grain match at 0.87-0.90, wrong places near them at 0.65-0.74.
MIN_MATCH = 0.8
SIDE = 32  # pictures are compared at most this many pixels across (large faces are shrunk)
MIN_CONTRAST = 2.0  # grey levels (standard deviation): a flat patch could be anywhere


def look_back(later: Gray, earlier: Gray, boxes: list[Box]) -> list[Box | None]:
    """Each box (found on `later`) moved to where its picture is on `earlier`, or None where its
    picture is not found there; both images are the same size, boxes normalised to it."""
    return [_place(later, earlier, box) for box in boxes]


def _place(later: Gray, earlier: Gray, box: Box) -> Box | None:
    height, width = later.shape[:2]
    x0, y0, x1, y1 = box.to_pixels(width, height)
    w, h = x1 - x0, y1 - y0
    if w < 4 or h < 4:
        return None
    template = later[y0:y1, x0:x1]
    if float(template.std()) < MIN_CONTRAST:
        return None
    left, top = max(0, x0 - REACH_SIDES * w), max(0, y0 - REACH_SIDES * h)
    right, bottom = min(width, x1 + REACH_SIDES * w), min(height, y1 + REACH_SIDES * h)
    window = earlier[top:bottom, left:right]
    scale = min(1.0, SIDE / max(w, h))
    if scale < 1.0:
        template = _shrunk(template, scale)
        window = _shrunk(window, scale)
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    if best < MIN_MATCH:
        return None
    return box.shifted((left + x / scale - x0) / width, (top + y / scale - y0) / height)


def _shrunk(image: Gray, scale: float) -> Gray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
