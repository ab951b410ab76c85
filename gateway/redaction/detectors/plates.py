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
    """Finds plate-like regions (dark characters on a light rectangle) in a downscaled frame."""

    kind = DetectionKind.PLATE

    def __init__(self, cascade: Path | None = None, min_width: int = 24) -> None:
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
        self.min_width = min_width

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Plate boxes, normalised to the image."""
        height, width = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=3, minSize=(self.min_width, self.min_width // 3)
        )
        return [
            Box(x / width, y / height, (x + w) / width, (y + h) / height)
            for x, y, w, h in (tuple(int(v) for v in row) for row in found)
        ]

    def versions(self) -> dict[str, str]:
        """OpenCV version and the cascade file's SHA-256."""
        return {"opencv": cv2.__version__, f"plate-model:{CASCADE}": self.sha256}
