"""Redacting one picture (a Nest event image, a doorbell snapshot) into a PNG with no metadata.

The same detectors and privacy masks as for video, on a single frame: every box dilated, every
mask filled solid, and nothing of the original file's metadata (EXIF, GPS, maker notes)
carried over, because the PNG is written from pixels alone.
"""

import functools
import mmap
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import PIL
from PIL import Image, ImageOps, UnidentifiedImageError, WebPImagePlugin
from PIL.ImageFile import ImageFile
from PIL.JpegImagePlugin import JpegImageFile

from gateway.redaction.contact_sheet import TILE_WIDTH, tile_height
from gateway.redaction.detectors.base import DetectionKind, Detector, RgbImage, run_detector
from gateway.redaction.errors import InputError
from gateway.redaction.execution import Outcome
from gateway.redaction.obscure import rasterise_masks
from gateway.redaction.profiles import DetectionSettings
from gateway.redaction.regions import Box, Polygon
from gateway.redaction.video_output import temp_path_for

# Pillow registers JPEG, PNG and BMP on first use; WebP's reader is imported above.
PICTURE_FORMATS = ("JPEG", "PNG", WebPImagePlugin.WebPImageFile.format, "BMP")
MAX_SIDE = 4096
_JPEG_START = b"\xff\xd8\xff"  # the start-of-image marker, then the next marker's first byte
_EOI, _SOS = 0xD9, 0xDA
# In a scan's entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker
# (0xD0-0xD7) or more 0xFF (fill): any other byte makes it the marker that ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# What Pillow raises on a file it cannot read (a decompression bomb, a picture far too large, is
# caught on its own before these).
_UNREADABLE = (OSError, UnidentifiedImageError)


def _open(path: Path) -> ImageFile:
    """Opened as one of PICTURE_FORMATS only: Pillow then loads those four readers, not all
    forty (0.2 s before every clip was redacted), and no other image decoder sees the file."""
    return Image.open(path, formats=PICTURE_FORMATS)


def is_picture(path: Path) -> bool:
    """True when `path` is a still image in one of PICTURE_FORMATS: not a video container, nor
    pictures that are frames of a clip, whose first frame Pillow would open as the picture (an
    animated PNG or WebP, a raw MJPEG stream), which FFmpeg reads as the clips they are."""
    if not path.is_file():  # a pipe would block the image reader; ClipReader says what it is
        return False
    try:
        with _open(path) as image:
            return not _is_animation(image) and not _is_jpeg_stream(path, image)
    except Image.DecompressionBombError:
        return True  # a picture far too large, which _load refuses saying so
    except _UNREADABLE:
        return False


def _is_animation(image: ImageFile) -> bool:
    """An animated PNG or WebP (not a JPEG's second picture: an MPO's other eye)."""
    return image.format != "MPO" and getattr(image, "is_animated", False)


def _is_jpeg_stream(path: Path, image: ImageFile) -> bool:
    """Whether another JPEG starts where the first one ends, as in FFmpeg's raw "mjpeg" format;
    not so in a photo whose first picture declares the ones appended to it (an MPF segment: MPO,
    Ultra HDR), nor past trailing bytes that are no JPEG."""
    if not isinstance(image, JpegImageFile):
        return False
    if any(name == "APP2" and data.startswith(b"MPF\0") for name, data in image.applist):
        return False
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = _jpeg_end(data)
        return end is not None and data[end : end + len(_JPEG_START)] == _JPEG_START


def _jpeg_end(data: mmap.mmap) -> int | None:
    """Where the JPEG at the start of `data` ends, past its end-of-image marker (None: it does
    not end). Marker segments are skipped by their length, so the thumbnail in an EXIF segment,
    a JPEG of its own, is skipped whole; scans are skipped to the marker that ends them."""
    at = 2  # past the start-of-image marker
    while at + 2 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == _EOI:
            return at + 2
        if marker == 0xFF:  # fill bytes may come before a marker
            at += 1
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4])
        if marker == _SOS:
            scan_end = _SCAN_END.search(data, at)
            if scan_end is None:
                return None
            at = scan_end.start()
    return None


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
        search = functools.partial(detector.detect, small, lambda: pixels)
        found = run_detector(detector.kind, search, "on the picture", settings.timeout_s)
        counts[detector.kind] += len(found)
        boxes += found
    for box in boxes:
        x0, y0, x1, y1 = box.dilated(settings.dilation).to_pixels(width, height)
        pixels[y0:y1, x0:x1] = 0
    mask = rasterise_masks(masks, width, height)
    if mask is not None:
        pixels[mask] = 0
    _write_png(pixels, output)
    tile = np.asarray(Image.fromarray(pixels).resize((TILE_WIDTH, tile_height(width, height))))
    thumbnail = np.asarray(cv2.cvtColor(tile, cv2.COLOR_RGB2YUV_I420), np.uint8)
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
        thumbnails=((0, 0.0, thumbnail),),
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
    except Image.DecompressionBombError as exc:  # declared far larger still: Pillow refuses it
        raise InputError(
            f"The picture is larger than {MAX_SIDE} px on a side; such pictures are refused."
        ) from exc
    except _UNREADABLE as exc:
        raise InputError("The picture is corrupt or truncated; nothing was written.") from exc


def _write_png(pixels: np.ndarray, output: Path) -> None:
    """Written under a redacted clip's temporary name (`temp_path_for`), which the pipeline's
    `remove_leftovers` deletes after a job killed mid-write, then renamed into place."""
    temporary = temp_path_for(output)
    try:
        Image.fromarray(pixels).save(temporary, format="PNG")
        temporary.replace(output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
