"""Licence-plate detector: OpenCV's bundled Haar cascade (opencv-python-headless 4.x, BSD)."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2

from gateway.redaction.detectors.base import DetectionKind, FullFrame, RgbImage
from gateway.redaction.errors import RedactionError
from gateway.redaction.regions import Box

CASCADE = "haarcascade_russian_plate_number.xml"


def bundled_cascades() -> Path:
    """The folder of Haar cascades shipped in the opencv-python-headless 4.x wheel."""
    from cv2 import data

    return Path(data.haarcascades)


class HaarPlateDetector:
    """Finds plate-like regions (dark characters on a light rectangle) in the full frame.

    The cascade looks through a 60x20 px window, so it runs on the full-resolution frame
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
    ) -> None:
        self.cascade_path = cascade or bundled_cascades() / CASCADE
        if not self.cascade_path.is_file():
            raise RedactionError(
                "The licence-plate model is missing from OpenCV; reinstall "
                "opencv-python-headless 4.x (version 5 dropped Haar cascades)."
            )
        self._cascade = cv2.CascadeClassifier(str(self.cascade_path))
        if self._cascade.empty():
            raise RedactionError("The licence-plate model file is damaged.")
        self.sha256 = hashlib.sha256(self.cascade_path.read_bytes()).hexdigest()
        self.max_width = max_width
        self.min_share = min_share
        self.scale_step = scale_step
        self.neighbours = neighbours

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Plate boxes, normalised to the frame."""
        gray = cv2.cvtColor(image if full is None else full(), cv2.COLOR_RGB2GRAY)
        height, width = gray.shape[:2]
        if width > self.max_width:
            height = round(height * self.max_width / width)
            width = self.max_width
            gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
        smallest = round(width * self.min_share)
        found = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_step,
            minNeighbors=self.neighbours,
            minSize=(smallest, smallest // 3),
        )
        return [
            Box(x / width, y / height, (x + w) / width, (y + h) / height)
            for x, y, w, h in (tuple(int(v) for v in row) for row in found)
        ]

    def versions(self) -> dict[str, str]:
        """OpenCV version and the cascade file's SHA-256."""
        return {"opencv": cv2.__version__, f"plate-model:{CASCADE}": self.sha256}
