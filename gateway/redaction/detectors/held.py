"""Run a costly detector of slow-moving targets on every k-th detection frame, following what it
found on the frames in between."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, Refinding, RgbImage
from gateway.redaction.regions import Box, centre_step, nearest

# Held boxes are grown by this much more, since their target may have moved since they ran.
HOLD_DILATION = 0.3
# A box found within this many of its sides of where a target was expected is taken to be it.
REACH = 2.0
# A target a run does not find again is carried on (moved by its step, or in place when it has
# none: a plate seen once is most likely parked) until this many runs after it was last seen:
# in grain, over a busy background or at the frame's edge, the cascade can miss a plate on two
# runs in a row, and the looks near it in between too.
CARRY = 2


@dataclass
class _Track:
    """One target: where and when it was last seen, and its step per call since."""

    box: Box
    seen: int
    step: tuple[float, float] = (0.0, 0.0)

    def at(self, call: int) -> Box:
        dx, dy = self.step
        return self.box.shifted(dx * (call - self.seen), dy * (call - self.seen))

    def saw(self, box: Box, call: int) -> None:
        dx, dy = centre_step(self.box, box)
        elapsed = call - self.seen
        self.box, self.seen, self.step = box, call, (dx / elapsed, dy / elapsed)


class HeldDetector:
    """Wraps a detector: runs it on one call in `hold`, and follows its targets in between.

    Used for licence plates, which move slowly in doorbell footage (parked or manoeuvring cars)
    and whose Haar cascade costs as much as the face model. Each target found is expected to
    keep the step it moved since it was last seen. On the calls in between, a detector that can
    (`Refinding`) looks for it again near there, on a small crop, so a car that pulls away stays
    covered; otherwise, or when that misses, the expected box is grown. A target the next run
    misses is carried on until `CARRY` runs after it was last seen. Failures still propagate.
    """

    def __init__(self, inner: Detector, hold: int) -> None:
        self.inner = inner
        self.kind: DetectionKind = inner.kind
        self.hold = hold
        self._calls = 0
        self._tracks: list[_Track] = []

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Fresh boxes on every `hold`-th call, the targets followed otherwise."""
        call = self._calls
        self._calls += 1
        if call % self.hold == 0:
            return self._run(call, self.inner.detect(image, full))
        return self._between(call, full)

    def _run(self, call: int, found: Sequence[Box]) -> tuple[Box, ...]:
        missed = list(self._tracks)
        seen: list[_Track] = []
        for box in found:
            expected = [track.at(call) for track in missed]
            match = nearest(box, expected, REACH)
            if match is None:
                seen.append(_Track(box, call))
                continue
            track = missed.pop(expected.index(match))
            track.saw(box, call)
            seen.append(track)
        carried = [track for track in missed if call - track.seen <= CARRY * self.hold]
        self._tracks = seen + carried
        return tuple(found) + tuple(replace(track.at(call), held=1) for track in carried)

    def _between(self, call: int, full: FullFrame | None) -> tuple[Box, ...]:
        refinding = self.inner if isinstance(self.inner, Refinding) else None
        source = full() if refinding is not None and full is not None and self._tracks else None
        boxes = []
        for track in self._tracks:
            expected = track.at(call)
            if refinding is not None and source is not None:
                again = nearest(expected, refinding.detect_near(source, expected), REACH)
                if again is not None:
                    track.saw(again, call)
                    boxes.append(again)
                    continue
            boxes.append(expected.dilated(HOLD_DILATION))
        return tuple(boxes)

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        """The wrapped detector's `detect_near`, when it can look near (none otherwise)."""
        if not isinstance(self.inner, Refinding):
            return ()
        return self.inner.detect_near(full, around, reach)

    def versions(self) -> dict[str, str]:
        """The wrapped detector's versions."""
        return self.inner.versions()
