"""The preview a resident sees before approving: a grid of redacted frames evenly spaced over
the frames written, whatever the clip's length or the gaps in a camera's recording."""

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from gateway.redaction.errors import timecode
from gateway.redaction.obscure import Planes
from gateway.redaction.video_output import temp_path_for

COLUMNS, ROWS = 4, 3
TILES = COLUMNS * ROWS
TILE_WIDTH = 320
KEPT = 4  # thumbnails kept per tile shown, at most: each tile shown is about a quarter of the
# tiles' spacing or less from where an even spacing puts it
# At most this tall, squeezed if need be: a 2 x 4096 clip, or one whose pixels claim to be
# 60000 times taller than wide, would otherwise take gigabytes for the thumbnails.
MAX_TILE_HEIGHT = 4 * TILE_WIDTH
LABEL_HEIGHT = 18
RgbTile = npt.NDArray[np.uint8]
Tile = tuple[float, RgbTile]  # (offset in seconds within the output, picture)
# (the frame's number in the output, offset, picture): kept as I420, TILE_WIDTH wide, half the
# bytes of RGB, and converted only if it is shown.
Thumbnail = tuple[int, float, npt.NDArray[np.uint8]]


def tile_height(width: int, height: int, pixel_aspect: float = 1.0) -> int:
    """A tile's height for a picture of `width` x `height` pixels of that shape (a pixel's width
    / height as shown): even, as I420 needs, and at most MAX_TILE_HEIGHT."""
    shown = round(height * TILE_WIDTH / (width * pixel_aspect) / 2) * 2
    return min(max(2, shown), MAX_TILE_HEIGHT)


class ContactSheet:
    """Thumbnails of every `step`-th frame offered, at most KEPT times as many as the sheet
    shows: when they are that many, every other one goes and the step doubles (memory flat).
    So they are spread evenly over the frames however many come, and the clip's length need not
    be known: a camera that records on motion leaves gaps of minutes between its frames, and
    the sheet shows what it recorded."""

    def __init__(self, pixel_aspect: float = 1.0) -> None:
        self.pixel_aspect = pixel_aspect  # a pixel's width / height as shown
        self.thumbnails: list[Thumbnail] = []
        self._step, self._offered = 1, 0

    def offer(self, offset_s: float, yuv: Planes) -> None:
        """Keep a thumbnail of this output frame (a yuv420p picture) if its number is due."""
        number = self._offered
        self._offered += 1
        if number % self._step:
            return
        self.thumbnails.append((number, offset_s, self._thumbnail(yuv)))
        if len(self.thumbnails) >= KEPT * TILES:
            del self.thumbnails[1::2]
            self._step *= 2

    def _thumbnail(self, yuv: Planes) -> npt.NDArray[np.uint8]:
        """The frame scaled plane by plane to an I420 picture TILE_WIDTH wide."""
        height, width = yuv[0].shape
        rows = tile_height(width, height, self.pixel_aspect)
        planes = [
            cv2.resize(plane, (TILE_WIDTH // scale, rows // scale), interpolation=cv2.INTER_AREA)
            for plane, scale in zip(yuv, (1, 2, 2), strict=True)
        ]
        return np.concatenate([plane.reshape(-1) for plane in planes]).reshape(-1, TILE_WIDTH)


def pick(thumbnails: Iterable[Thumbnail], frames: int) -> list[Tile]:
    """The sheet's tiles: for each of TILES frame numbers evenly spaced over the `frames` of
    the output (each frame of a shorter clip), the thumbnail nearest to it. The segments'
    thumbnails, joined, are chosen from together."""
    kept = list(thumbnails)
    if not kept:
        return []
    chosen: dict[int, Tile] = {}
    shown = min(TILES, frames)
    for i in range(shown):
        target = i * frames / shown
        number, offset, i420 = min(kept, key=lambda thumbnail: abs(thumbnail[0] - target))
        if number not in chosen:
            chosen[number] = (offset, np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)))
    return list(chosen.values())


def save_contact_sheet(tiles: Sequence[Tile], path: Path) -> None:
    """Write the tiles as a labelled grid PNG atomically (temporary name, then rename)."""
    if not tiles:
        return
    height = tiles[0][1].shape[0]
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * TILE_WIDTH, rows * (height + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (offset, tile) in enumerate(tiles):
        x = (index % columns) * TILE_WIDTH
        y = (index // columns) * (height + LABEL_HEIGHT)
        sheet.paste(Image.fromarray(tile), (x, y + LABEL_HEIGHT))
        millis = round((offset % 1) * 1000)
        draw.text((x + 4, y + 3), f"{timecode(offset)}.{millis:03d}", fill="black")
    temp = temp_path_for(path)
    try:
        sheet.save(temp, format="PNG")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
