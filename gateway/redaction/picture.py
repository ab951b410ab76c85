"""Redacting one picture (a Nest event image, a doorbell snapshot) into a PNG with no metadata.

The same detectors and privacy masks as for video, on a single frame: every box dilated, every
mask filled solid, and nothing of the original file's metadata (EXIF, GPS, maker notes)
carried over, because the PNG is written from pixels alone.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps, UnidentifiedImageError, WebPImagePlugin
from PIL.ImageFile import ImageFile

from gateway.redaction.contact_sheet import TILE_WIDTH, Tile
from gateway.redaction.detectors.base import DetectionKind, Detector, RgbImage
from gateway.redaction.errors import DetectionError, InputError
from gateway.redaction.execution import Outcome
from gateway.redaction.obscure import rasterise_masks
from gateway.redaction.profiles import DetectionSettings
from gateway.redaction.regions import Box, Polygon

# Pillow registers JPEG, PNG and BMP on first use; WebP's reader is imported above.
PICTURE_FORMATS = ("JPEG", "PNG", WebPImagePlugin.WebPImageFile.format, "BMP")
MAX_SIDE = 4096


def _open(path: Path) -> ImageFile:
    """Opened as one of PICTURE_FORMATS only: Pillow then loads those four readers, not all
    forty (0.2 s before every clip was redacted), and no other image decoder sees the file."""
    return Image.open(path, formats=PICTURE_FORMATS)


def is_picture(path: Path) -> bool:
    """True when `path` is a still image in one of PICTURE_FORMATS (not a video container)."""
    if not path.is_file():  # a pipe would block the image reader; ClipReader says what it is
        return False
    try:
        with _open(path):
            return True
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return False


def redact_picture(
    source: Path,
    output: Path,
    masks: Sequence[Polygon],
    detectors: Sequence[Detector],
    settings: DetectionSettings,
) -> Outcome:
    """Write the redacted picture to `output` (PNG); the file exists only if this returns."""
    pixels = _load(source)
    height, width = pixels.shape[:2]
    detection_size = settings.detection_size(width, height)
    small: RgbImage = np.asarray(Image.fromarray(pixels).resize(detection_size), dtype=np.uint8)
    counts = dict.fromkeys(DetectionKind, 0)
    boxes: list[Box] = []
    for detector in detectors:
        try:
            found = list(detector.detect(small, lambda: pixels))
        except Exception as exc:
            raise DetectionError(
                f"The {detector.kind} detector failed on the picture; nothing was written."
            ) from exc
        counts[detector.kind] += len(found)
        boxes += found
    for box in boxes:
        x0, y0, x1, y1 = box.dilated(settings.dilation).to_pixels(width, height)
        pixels[y0:y1, x0:x1] = 0
    mask = rasterise_masks(masks, width, height)
    if mask is not None:
        pixels[mask] = 0
    _write_png(pixels, output)
    thumbnail = Image.fromarray(pixels).resize((TILE_WIDTH, max(2, height * TILE_WIDTH // width)))
    tiles: tuple[Tile, ...] = ((0.0, np.asarray(thumbnail, dtype=np.uint8)),)
    versions: dict[str, str] = {"pillow": PIL.__version__}
    for detector in detectors:
        versions |= detector.versions()
    return Outcome(
        frames=1,
        duration_s=0.0,
        first_offset_s=0.0,
        faces=counts[DetectionKind.FACE],
        plates=counts[DetectionKind.PLATE],
        width=width,
        height=height,
        encoder=f"png (Pillow {PIL.__version__})",
        tiles=tiles,
        versions=versions,
    )


def _load(source: Path) -> np.ndarray:
    try:
        with _open(source) as image:
            if max(image.size) > MAX_SIDE:
                raise InputError(
                    f"The picture is {image.width}x{image.height}; pictures larger than "
                    f"{MAX_SIDE} px on a side are refused."
                )
            upright = ImageOps.exif_transpose(image).convert("RGB")
            return np.array(upright, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError("The picture is corrupt or truncated; nothing was written.") from exc


def _write_png(pixels: np.ndarray, output: Path) -> None:
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(pixels).save(temporary, format="PNG")
        temporary.replace(output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
