"""Irreversible obscuring of regions in a planar yuv420p frame: a solid fill, never a blur."""

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from gateway.redaction.regions import Box, Polygon

# Limited-range black: a solid fill carries no information about what was under it.
FILL_Y = 16
FILL_C = 128
# Boxes are filled out to this grid, H.264's 8x8 transform blocks (4x4 in chroma). A fill edge that
# moves a pixel or two between frames is new detail in every block it crosses, which the encoder
# pays for (a tenth of its time on the street benchmark clip: bench/redaction/grid.py); on the grid,
# most frames repeat the last frame's edge exactly and the encoder copies those blocks.
GRID = 8

YuvArray = npt.NDArray[np.uint8]  # shape (height * 3 // 2, width): Y rows, then U, then V
Plane = npt.NDArray[np.uint8]  # one plane of a picture: (rows, columns)
Planes = tuple[Plane, Plane, Plane]  # the Y, U and V planes of one picture, as views


@dataclass(frozen=True)
class PlaneMask:
    """A privacy mask prepared once per job for the luma plane and the half-size chroma planes."""

    luma: npt.NDArray[np.bool_]
    chroma: npt.NDArray[np.bool_]
    bounds: tuple[int, int, int, int]  # x0, y0, x1, y1 in luma pixels, even-aligned

    @classmethod
    def from_mask(cls, mask: npt.NDArray[np.bool_]) -> "PlaneMask":
        """Crop the mask to its bounding box; a chroma sample is covered if any luma under it is."""
        ys, xs = np.nonzero(mask)
        height, width = mask.shape
        if ys.size == 0:
            return cls(np.zeros((0, 0), bool), np.zeros((0, 0), bool), (0, 0, 0, 0))
        x0, y0 = int(xs.min()) & ~1, int(ys.min()) & ~1
        x1, y1 = min(width, (int(xs.max()) + 2) & ~1), min(height, (int(ys.max()) + 2) & ~1)
        luma = mask[y0:y1, x0:x1]
        chroma = luma.reshape(luma.shape[0] // 2, 2, luma.shape[1] // 2, 2).any(axis=(1, 3))
        return cls(luma.copy(), chroma, (x0, y0, x1, y1))


def planes(frame: YuvArray, width: int, height: int) -> Planes:
    """Views of the Y, U and V planes of a yuv420p array (even width and height).

    The chroma planes follow the luma plane back to back; when the height is not a multiple of
    4, V starts part-way along a row of the array."""
    flat = frame.reshape(-1)
    luma_size, chroma = width * height, (height // 2, width // 2)
    chroma_size = chroma[0] * chroma[1]
    u = flat[luma_size : luma_size + chroma_size].reshape(chroma)
    v = flat[luma_size + chroma_size : luma_size + 2 * chroma_size].reshape(chroma)
    return frame[:height], u, v


def fill_boxes(yuv: Planes, boxes: Iterable[Box]) -> int:
    """Fill every box (normalised coordinates) solid, grown outward to the GRID; returns how many
    were filled."""
    luma, u, v = yuv
    height, width = luma.shape
    count = 0
    for box in boxes:
        x0, y0, x1, y1 = box.to_pixels(width, height)
        if x1 <= x0 or y1 <= y0:
            continue
        x0, y0 = x0 - x0 % GRID, y0 - y0 % GRID
        x1, y1 = min(width, x1 + -x1 % GRID), min(height, y1 + -y1 % GRID)
        # Round chroma bounds outward so no half-covered chroma sample keeps colour detail.
        cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
        luma[y0:y1, x0:x1] = FILL_Y
        u[cy0:cy1, cx0:cx1] = FILL_C
        v[cy0:cy1, cx0:cx1] = FILL_C
        count += 1
    return count


def fill_mask(yuv: Planes, mask: PlaneMask) -> None:
    """Fill the pixels of a prepared privacy mask solid."""
    x0, y0, x1, y1 = mask.bounds
    if x1 <= x0:
        return
    luma, u, v = yuv
    np.copyto(luma[y0:y1, x0:x1], FILL_Y, where=mask.luma)
    np.copyto(u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], FILL_C, where=mask.chroma)
    np.copyto(v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], FILL_C, where=mask.chroma)


def rasterise_masks(
    masks: Iterable[Polygon], width: int, height: int
) -> npt.NDArray[np.bool_] | None:
    """Full-resolution boolean mask of the union of the polygons, or None if there are none.

    Each polygon is filled on its own: filled together, OpenCV would fill by parity and leave
    where two masks overlap uncovered."""
    polygons = list(masks)
    if not polygons:
        return None
    canvas = np.zeros((height, width), dtype=np.uint8)
    for polygon in polygons:
        corners = [[round(x * width), round(y * height)] for x, y in polygon]
        cv2.fillPoly(canvas, [np.array(corners, dtype=np.int32)], color=1)
    return canvas.astype(bool)
