"""Run a costly, slow-moving-target detector on every k-th detection frame only."""

from collections.abc import Sequence

from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, RgbImage
from gateway.redaction.regions import Box, carry, steps

# Held boxes are grown by this much more, since their target may have moved since they ran.
HOLD_DILATION = 0.3
# A box found within this many of its sides of one found on the previous run is taken to be the
# same target, and its held copies move on by the step between the two.
REACH = 2.0
# A box the next run does not find again is carried on (moved by its step, or in place when it
# has none: a plate seen once is most likely parked) for this many runs.
CARRY = 1


class HeldDetector:
    """Wraps a detector: runs it on one call in `hold`, and returns its grown boxes in between.

    Used for licence plates, which move slowly in doorbell footage (parked or manoeuvring cars)
    and whose Haar cascade costs as much as the face model. A box found again near where the
    previous run found it keeps moving at that pace in between, so a manoeuvring car's plate
    does not drift out of its cover, and one the next run misses is carried on for `CARRY`
    runs (`regions.carry`). Failures still propagate.
    """

    def __init__(self, inner: Detector, hold: int) -> None:
        self.inner = inner
        self.kind: DetectionKind = inner.kind
        self.hold = hold
        self._calls = 0
        self._last: tuple[Box, ...] = ()
        self._before_last: tuple[Box, ...] = ()
        self._moves: list[tuple[float, float]] = []  # each last box's step per call

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Fresh boxes on every `hold`-th call, the last ones moved on and grown otherwise."""
        since = self._calls % self.hold
        self._calls += 1
        if since == 0:
            found = tuple(self.inner.detect(image, full))
            found += tuple(carry(self._before_last, self._last, found, CARRY, REACH, grow=0.0))
            moves = steps(self._last, found, REACH)
            self._moves = [(dx / self.hold, dy / self.hold) for dx, dy in moves]
            self._before_last, self._last = self._last, found
            return found
        return tuple(
            box.shifted(dx * since, dy * since).dilated(HOLD_DILATION)
            for box, (dx, dy) in zip(self._last, self._moves, strict=True)
        )

    def versions(self) -> dict[str, str]:
        """The wrapped detector's versions."""
        return self.inner.versions()
