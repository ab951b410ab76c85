"""The contact sheet: frames evenly spaced over what was written, whatever the clip's length
(test_segments.py: whatever its gaps, in one process or two)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.redaction.contact_sheet import (
    KEPT,
    LABEL_HEIGHT,
    MAX_TILE_HEIGHT,
    TILE_WIDTH,
    TILES,
    ContactSheet,
    pick,
)
from gateway.redaction.obscure import Planes
from gateway.redaction.pipeline import RedactionJob, redact
from tests.gateway.redaction.conftest import MakeClip

GREY = np.full((24, 32), 128, np.uint8)
PLANES: Planes = (np.full((48, 64), 100, np.uint8), GREY, GREY)
SHEET_SIZE = (4 * TILE_WIDTH, 3 * (240 + LABEL_HEIGHT))  # twelve tiles of a 320 x 240 clip


@pytest.mark.parametrize("frames", [1, 5, 12, 13, 47, 48, 100, 1000, 4321])
def test_the_tiles_are_spread_evenly_over_the_frames_from_a_few_thumbnails(frames: int) -> None:
    sheet = ContactSheet()
    most = 0
    for number in range(frames):
        sheet.offer(number / 30, PLANES)
        most = max(most, len(sheet.thumbnails))
    assert most < KEPT * TILES  # memory flat in the clip's length
    tiles = pick(sheet.thumbnails, frames)
    numbers = [round(offset * 30) for offset, _ in tiles]
    assert len(numbers) == min(frames, TILES) and numbers == sorted(set(numbers))
    spacing = frames / min(frames, TILES)
    for i, number in enumerate(numbers):
        assert abs(number - i * spacing) <= max(spacing / 4, 0.5)


def test_a_clip_of_an_extreme_shape_gets_thumbnails_of_a_bounded_size() -> None:
    # Pixels 60000 times taller than wide (a damaged header) would make each thumbnail
    # 320 x 14 million pixels.
    sheet = ContactSheet(pixel_aspect=1 / 60000)
    sheet.offer(0.0, PLANES)
    assert sheet.thumbnails[0][2].shape == (MAX_TILE_HEIGHT * 3 // 2, TILE_WIDTH)  # I420
    assert pick(sheet.thumbnails, 1)[0][1].shape == (MAX_TILE_HEIGHT, TILE_WIDTH, 3)


def sheet_of(path: Path) -> tuple[tuple[int, int], bytes]:
    with Image.open(path) as sheet:
        return sheet.size, sheet.tobytes()


def test_a_clip_that_does_not_say_how_long_it_is_gets_twelve_tiles(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # A raw H.264 stream declares no length: the sheet had a single tile.
    src = make_clip("clip.h264", frames=90, container="h264")
    preview = tmp_path / "sheet.png"
    redact(RedactionJob(src, tmp_path / "out.mp4", profile="masks-only", preview=preview))
    assert sheet_of(preview)[0] == SHEET_SIZE
