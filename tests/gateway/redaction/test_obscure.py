"""Filling boxes in yuv420p frames."""

import numpy as np

from gateway.redaction.obscure import FILL_C, FILL_Y, GRID, fill_boxes, planes
from gateway.redaction.regions import Box


def filled(width: int, height: int, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = np.full((height * 3 // 2, width), 200, dtype=np.uint8)
    luma, u, v = planes(frame, width, height)
    assert fill_boxes((luma, u, v), [box]) == 1
    return luma == FILL_Y, u == FILL_C, v == FILL_C


def bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_boxes_are_filled_out_to_the_transform_block_grid() -> None:
    # 13..50 x 9..30 px in a 64x48 frame: the fill covers the 8-px blocks it touches, 8..56 x 8..32.
    luma, u, v = filled(64, 48, Box(13 / 64, 9 / 48, 50 / 64, 30 / 48))
    assert GRID == 8
    assert bounds(luma) == (8, 8, 56, 32)
    assert luma.sum() == 48 * 24  # a solid rectangle
    assert bounds(u) == bounds(v) == (4, 4, 28, 16)
    assert u.sum() == v.sum() == 24 * 12


def test_a_box_already_on_the_grid_is_not_grown() -> None:
    luma, u, _ = filled(64, 48, Box(8 / 64, 16 / 48, 24 / 64, 40 / 48))
    assert bounds(luma) == (8, 16, 24, 40)
    assert bounds(u) == (4, 8, 12, 20)


def test_growing_to_the_grid_stops_at_the_frame_edge() -> None:
    # 66x46 is not a multiple of 8: the last blocks are partial and the fill stops at the edge.
    luma, u, _ = filled(66, 46, Box(0.9, 0.9, 1.0, 1.0))
    assert bounds(luma) == (56, 40, 66, 46)
    assert bounds(u) == (28, 20, 33, 23)
