"""Run a costly, slow-moving-target detector on every k-th detection frame only."""

from collections.abc import Sequence

from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, RgbImage
from gateway.redaction.regions import Box

# Held boxes are grown by this much more, since their target may have moved since they ran.
HOLD_DILATION = 0.3


class HeldDetector:
    """Wraps a detector: runs it on one call in `hold`, and returns its grown boxes in between.

    Used for licence plates, which move slowly in doorbell footage (parked or manoeuvring cars)
    and whose Haar cascade costs as much as the face model. Failures still propagate.
    """

    def __init__(self, inner: Detector, hold: int) -> None:
        self.inner = inner
        self.kind: DetectionKind = inner.kind
        self.hold = hold
        self._calls = 0
        self._last: tuple[Box, ...] = ()

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Fresh boxes on every `hold`-th call, the last ones grown otherwise."""
        if self._calls % self.hold == 0:
            self._last = tuple(self.inner.detect(image, full))
            self._calls += 1
            return self._last
        self._calls += 1
        return tuple(box.dilated(HOLD_DILATION) for box in self._last)

    def versions(self) -> dict[str, str]:
        """The wrapped detector's versions."""
        return self.inner.versions()
