"""Licence-plate detector: OpenCV's bundled Haar cascade (opencv-python-headless 4.x, BSD)."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2

from gateway.redaction.detectors.base import DetectionKind, FullFrame, RgbImage
from gateway.redaction.errors import RedactionError
from gateway.redaction.regions import Box
from gateway.redaction.still import BLOCK, Changes

CASCADE = "haarcascade_russian_plate_number.xml"
# Sizes, relative to the plate found before, searched when looking for it again nearby.
NEAR_SIZES = (0.6, 1.6)
# With `regions`, the cascade searches again only the detection frame's blocks changed by more
# than CHANGE_LIMIT grey levels since it last searched them (still.Changes), with PAD blocks of
# context (with two, crops missed plates the whole frame's search finds), and the whole frame
# at least on every third run.
CHANGE_LIMIT = 2.0
PAD = 4
REFRESH = 2


def bundled_cascades() -> Path:
    """The folder of Haar cascades shipped in the opencv-python-headless 4.x wheel."""
    from cv2 import data

    return Path(data.haarcascades)


class HaarPlateDetector:
    """Finds plate-like regions (dark characters on a light rectangle) in the full frame.

    The bundled cascade looks through a 60x20 px window, so it runs on the full-resolution frame
    (scaled down to `max_width` when wider) rather than on the small detection frame, where a
    plate narrower than about 100 px at 720p could not fill the window. Plates narrower than
    `min_share` of the frame's width, whose characters are too small to read, are not searched.
    The search steps through sizes by `scale_step` and keeps a plate found at `neighbours` nearby
    positions or sizes: 1.15 and 2 found more of the benchmark's plates than OpenCV's usual 1.1
    and 3, in three quarters of the time (docs/redaction.md, "Plates").
    """

    kind = DetectionKind.PLATE

    def __init__(
        self,
        cascade: Path | None = None,
        max_width: int = 1280,
        min_share: float = 1 / 15,
        scale_step: float = 1.15,
        neighbours: int = 2,
        regions: bool = False,
    ) -> None:
        self.cascade_path = cascade or bundled_cascades() / CASCADE
        self._cascade, self.sha256 = _load(self.cascade_path, bundled=cascade is None)
        # The cascade's window (60 x 20 px for the bundled one): the shape of the smallest plate.
        window_w, window_h = self._cascade.getOriginalWindowSize()
        self._window = (window_w, window_h)
        self.max_width = max_width
        self.min_share = min_share
        self.scale_step = scale_step
        self.neighbours = neighbours
        # Where the cascade searched last, and the plates it found.
        self._changes = Changes(CHANGE_LIMIT, PAD, BLOCK, refresh=REFRESH) if regions else None
        self._plates: list[Box] = []

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Plate boxes, normalised to the frame; with `regions`, searched for again only
        where the picture changed, plates elsewhere kept."""
        frame = image if full is None else full()
        smallest = round(min(frame.shape[1], self.max_width) * self.min_share)
        window_w, window_h = self._window
        sizes = (smallest, max(1, smallest * window_h // window_w))
        if self._changes is None:
            return self._search(frame, Box(0.0, 0.0, 1.0, 1.0), sizes, None)
        self._plates = self._changes.look(
            image, self._plates, lambda _, region: self._search(frame, region, sizes, None)
        )
        return list(self._plates)

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        """Plates of about `around`'s size (NEAR_SIZES times) within `reach` (default one) of its
        widths and heights of it: a plate a run found, looked for again on a frame in between (a
        small crop, a few sizes: a twentieth of a run's time)."""
        height, width = full.shape[:2]
        scale = min(1.0, self.max_width / width)
        plate_w = (around.x1 - around.x0) * width * scale
        plate_h = (around.y1 - around.y0) * height * scale
        low, high = NEAR_SIZES
        smallest = (max(1, int(plate_w * low)), max(1, int(plate_h * low)))
        largest = (int(plate_w * high) + 1, int(plate_h * high) + 1)
        sides = 1.0 if reach is None else reach
        return self._search(full, around.dilated(2.0 * sides), smallest, largest)

    def _search(
        self,
        frame: RgbImage,
        region: Box,
        smallest: tuple[int, int],
        largest: tuple[int, int] | None,
    ) -> list[Box]:
        """Plates in `region` of the frame (scaled to at most `max_width` wide) between the two
        sizes, normalised to the frame."""
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = region.to_pixels(width, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return []
        gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_width / width)
        if scale < 1.0:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        found = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_step,
            minNeighbors=self.neighbours,
            minSize=smallest,
            maxSize=largest or (0, 0),
        )
        sx, sy = (x1 - x0) / gray.shape[1], (y1 - y0) / gray.shape[0]
        return [
            Box(
                (x0 + x * sx) / width,
                (y0 + y * sy) / height,
                (x0 + (x + w) * sx) / width,
                (y0 + (y + h) * sy) / height,
            )
            for x, y, w, h in (tuple(int(v) for v in row) for row in found)
        ]

    def versions(self) -> dict[str, str]:
        """OpenCV version and the cascade file's SHA-256."""
        return {"opencv": cv2.__version__, f"plate-model:{self.cascade_path.name}": self.sha256}


def _load(path: Path, bundled: bool) -> tuple[cv2.CascadeClassifier, str]:
    """The cascade in `path` and the file's SHA-256, or a RedactionError saying what is wrong."""
    if not path.is_file():
        raise RedactionError(
            "The licence-plate model is missing from OpenCV; reinstall opencv-python-headless "
            "4.x (version 5 dropped Haar cascades)."
            if bundled
            else "The licence-plate model file does not exist."
        )
    try:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RedactionError("The licence-plate model file cannot be read.") from exc
    try:
        cascade = cv2.CascadeClassifier(str(path))
        loaded = not cascade.empty()
    except (cv2.error, SystemError):  # OpenCV's binding raises SystemError on a parse error
        loaded = False
    if not loaded:
        raise RedactionError(
            "The licence-plate model file is damaged."
            if bundled
            else "The licence-plate model is not an OpenCV cascade file (Haar or LBP XML)."
        )
    return cascade, sha256
