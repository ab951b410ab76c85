"""Where the picture changed: detectors look again only there.

Doorbell footage is mostly a still porch: H.264 copies unchanged blocks exactly, so a detection
frame often matches the last detected frame pixel for pixel, and then reuses its boxes
(`unchanged`). When only part of it changed, a detector can look at that part alone and keep
what it found elsewhere (`Changes`). Comparisons are always against what was last looked at
(never a chain of small changes), block by block, so a face entering anywhere changes some
block far beyond the limit.
"""

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from gateway.redaction.detectors.base import RgbImage
from gateway.redaction.regions import Box

BLOCK = 16  # pixels of the detection frame (about 28 px of a 720p frame)
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
# A detector looks at the whole frame when the changes cover more than MAX_SHARE of it, and at
# least on every REFRESH-th call. Both detectors' time is in proportion to the pixels searched
# (CenterFace on 0.52 of the 736 px frame: 0.44 of the whole frame's time), so crops pay until
# they cover nearly all of it.
MAX_SHARE = 0.9
REFRESH = 6
WHOLE_CHANGE = 10.0  # grey levels; the benchmark's low-light grain changes the typical block by 2-3


def unchanged(reference: RgbImage, image: RgbImage, limit: float) -> bool:
    """True when no block changed by more than `limit` (see `_moved`)."""
    if reference.shape != image.shape:
        return False
    moved = _moved(reference, image, limit)
    return moved is not None and not moved.any()


def changed_regions(
    reference: RgbImage, image: RgbImage, limit: float, pad: int, grid: int
) -> list[Rect]:
    """Rectangles around the blocks changed by more than `limit` (see `_moved`), each grown by
    `pad` blocks of context and snapped outward to `grid` pixels, overlapping ones merged; the
    whole frame when everything changed."""
    height, width = image.shape[:2]
    moved = _moved(reference, image, limit)
    if moved is None:
        return [(0, 0, width, height)]
    if not moved.any():
        return []
    grown = cv2.dilate(moved, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    scale_x, scale_y = width / moved.shape[1], height / moved.shape[0]
    rects = []
    for x, y, w, h, _ in stats[1:count]:
        x0, y0 = int(x * scale_x) // grid * grid, int(y * scale_y) // grid * grid
        x1 = min(width, -(-int((x + w) * scale_x) // grid) * grid)
        y1 = min(height, -(-int((y + h) * scale_y) // grid) * grid)
        rects.append((x0, y0, x1, y1))
    return _merged(rects)


def _moved(reference: RgbImage, image: RgbImage, limit: float) -> npt.NDArray[np.uint8] | None:
    """Which BLOCK x BLOCK blocks changed, on average in any colour channel, by more than
    `limit` grey levels above the frame's typical (median) block change, so a camera's grain
    is not change; None when the typical block changed by more than WHOLE_CHANGE (the light,
    or the camera, moved: everything did)."""
    height, width = image.shape[:2]
    change = cv2.absdiff(reference, image).astype(np.float32)
    columns, rows = max(1, width // BLOCK), max(1, height // BLOCK)
    means = cv2.resize(change, (columns, rows), interpolation=cv2.INTER_AREA)
    blocks = means.reshape(rows, columns, -1).max(axis=2)
    typical = float(np.median(blocks))
    if typical > WHOLE_CHANGE:
        return None
    return (blocks - typical > limit).astype(np.uint8)


def _merged(rects: list[Rect]) -> list[Rect]:
    """The rectangles, each overlapping group replaced by its bounding rectangle."""
    merged: list[Rect] = []
    for rect in rects:
        # Absorb every kept rectangle it overlaps, then any the grown one overlaps in turn.
        while overlapping := [m for m in merged if _overlap(m, rect)]:
            for other in overlapping:
                merged.remove(other)
                rect = (
                    min(rect[0], other[0]),
                    min(rect[1], other[1]),
                    max(rect[2], other[2]),
                    max(rect[3], other[3]),
                )
        merged.append(rect)
    return merged


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class Changes:
    """What a detector last looked at, block by block, to tell it where to look again.

    `look` runs the detector's search on the rectangles changed since each part was last looked
    at, or on the whole frame: the first time, when the changes cover more than `max_share` of
    it, and on every `refresh`-th call at least, so nothing the rectangles' edges cut off stays
    unseen.
    """

    def __init__(
        self,
        limit: float,
        pad: int,
        grid: int,
        max_share: float = MAX_SHARE,
        refresh: int = REFRESH,
    ) -> None:
        self.limit, self.pad, self.grid = limit, pad, grid
        self.max_share, self.refresh = max_share, refresh
        self._seen: RgbImage | None = None
        self._since_whole = 0

    def look(
        self, image: RgbImage, found: list[Box], search: Callable[[Rect, Box], list[Box]]
    ) -> list[Box]:
        """What the detector finds now: `search(rect, region)` on each rectangle to look at (in
        pixels of `image`, and normalised) replaces the boxes it shows whole; the others, where
        nothing changed, are kept."""
        height, width = image.shape[:2]
        for x0, y0, x1, y1 in self._where(image):
            region = Box(x0 / width, y0 / height, x1 / width, y1 / height)
            kept = [box for box in found if not region.contains(box)]
            found = kept + search((x0, y0, x1, y1), region)
        return found

    def _where(self, image: RgbImage) -> list[Rect]:
        """The rectangles to look at, taken as looked at from here on."""
        height, width = image.shape[:2]
        seen = self._seen
        if seen is not None and seen.shape == image.shape and self._since_whole < self.refresh:
            rects = changed_regions(seen, image, self.limit, self.pad, self.grid)
            if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) <= (
                self.max_share * width * height
            ):
                self._since_whole += 1
                for x0, y0, x1, y1 in rects:
                    seen[y0:y1, x0:x1] = image[y0:y1, x0:x1]
                return rects
        self._seen, self._since_whole = image.copy(), 0
        return [(0, 0, width, height)]
