"""The preview a resident sees before approving: a grid of evenly spaced redacted frames."""

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from gateway.redaction.errors import timecode
from gateway.redaction.obscure import Planes
from gateway.redaction.video_output import temp_path_for

COLUMNS, ROWS = 4, 3
TILE_WIDTH = 320
# At most this tall, squeezed if need be: a 2 x 4096 clip, or one whose pixels claim to be
# 60000 times taller than wide, would otherwise take gigabytes for twelve tiles.
MAX_TILE_HEIGHT = 4 * TILE_WIDTH
LABEL_HEIGHT = 18
RgbTile = npt.NDArray[np.uint8]
Tile = tuple[float, RgbTile]  # (offset in seconds within the output, thumbnail)


class ContactSheet:
    """Keeps small thumbnails of the output frames nearest to evenly spaced times (memory flat)."""

    def __init__(
        self, duration_s: float | None, tiles: int = COLUMNS * ROWS, pixel_aspect: float = 1.0
    ) -> None:
        self.pixel_aspect = pixel_aspect  # a pixel's width / height as shown
        span = duration_s if duration_s and duration_s > 0 else 0.0
        self._targets = [span * i / tiles for i in range(tiles)] if span else [0.0]
        self.tiles: list[Tile] = []

    def offer(self, offset_s: float, yuv: Planes) -> None:
        """Take this output frame if it is the first one at or after the next target time."""
        if len(self.tiles) >= len(self._targets) or offset_s < self._targets[len(self.tiles)]:
            return
        height, width = yuv[0].shape
        i420 = np.concatenate([plane.reshape(-1) for plane in yuv]).reshape(-1, width)
        rgb = np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)
        shown = round(height * TILE_WIDTH / (width * self.pixel_aspect))
        tile_height = min(max(2, shown), MAX_TILE_HEIGHT)
        tile = np.asarray(
            cv2.resize(rgb, (TILE_WIDTH, tile_height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        self.tiles.append((offset_s, tile))


def save_contact_sheet(tiles: Sequence[Tile], path: Path) -> None:
    """Write the tiles as a labelled grid PNG atomically (temporary name, then rename)."""
    if not tiles:
        return
    tile_height = tiles[0][1].shape[0]
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * TILE_WIDTH, rows * (tile_height + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (offset, tile) in enumerate(tiles):
        x = (index % columns) * TILE_WIDTH
        y = (index // columns) * (tile_height + LABEL_HEIGHT)
        sheet.paste(Image.fromarray(tile), (x, y + LABEL_HEIGHT))
        millis = round((offset % 1) * 1000)
        draw.text((x + 4, y + 3), f"{timecode(offset)}.{millis:03d}", fill="black")
    temp = temp_path_for(path)
    try:
        sheet.save(temp, format="PNG")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
