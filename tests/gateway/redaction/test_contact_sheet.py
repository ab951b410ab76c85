"""The contact sheet: frames evenly spaced over what was written, whatever the clip's length,
its gaps, or how many segment processes wrote it."""

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
from gateway.redaction.pipeline import RedactionJob, redact, redact_with
from gateway.redaction.profiles import DetectionSettings
from tests.gateway.redaction.conftest import MakeClip
from tests.gateway.redaction.test_segments import GAP

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
    assert sheet.thumbnails[0][2].shape == (MAX_TILE_HEIGHT, TILE_WIDTH, 3)


def sheet_of(path: Path) -> tuple[tuple[int, int], bytes]:
    with Image.open(path) as sheet:
        return sheet.size, sheet.tobytes()


@pytest.mark.parametrize(
    ("start", "end"),
    [(None, 40.0), (10.0, 63.0), (50.0, None)],
    ids=["second-half-empty", "first-half-empty", "first-half-empty-to-the-end"],
)
def test_a_clip_with_a_gap_gets_the_sheet_of_its_frames_from_two_processes_as_from_one(
    make_clip: MakeClip, tmp_path: Path, start: float | None, end: float | None
) -> None:
    # A motion-triggered camera's 100 frames at 0-3.3 s and 100 at 60-63.3 s. Each half of a
    # split window kept six tiles of its own, and a half in the gap none: six in all. One
    # process kept the first frame at or after each twelfth of the window, so twelve frames in
    # a row after the gap, or one before a gap at the end.
    src = make_clip(frames=len(GAP), pts=GAP, gop=30)
    sheets = []
    for name in ("two", "one"):
        preview = tmp_path / f"{name}.png"
        job = RedactionJob(
            src, tmp_path / f"{name}.mp4", start, end, profile="masks-only", preview=preview
        )
        if name == "two":
            redact(job)
        else:
            redact_with(job, [], DetectionSettings())
        sheets.append(sheet_of(preview))
    assert sheets[0][0] == SHEET_SIZE
    assert sheets[0] == sheets[1]


def test_a_clip_that_does_not_say_how_long_it_is_gets_twelve_tiles(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # A raw H.264 stream declares no length: the sheet had a single tile.
    src = make_clip("clip.h264", frames=90, container="h264")
    preview = tmp_path / "sheet.png"
    redact(RedactionJob(src, tmp_path / "out.mp4", profile="masks-only", preview=preview))
    assert sheet_of(preview)[0] == SHEET_SIZE
