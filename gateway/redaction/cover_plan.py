"""Which boxes cover which frame when detection runs on every Nth frame (pure, no video I/O).

Frame i is covered by the dilated union of the boxes found on every detection frame within N
frames of it: the detection frames before and after it, and a detection frame's own neighbours.
Frames between two detection frames also get the hull of each box and its match in the next
detection frame (`bridge`), so fast movers stay covered along their path. A box that the next
detection frame does not find again is carried on to it for up to `hold` detection frames
(`carry`), so a face the detector misses for a while stays covered; before that it is looked
for near where it should be (`look_near`), and a box found there stands in for it, from where
the target really is. A box with no match on
the previous detection frame is grown on the frames before it, that previous detection frame
included (it may have missed the face there), and stretched back along its step to the
detection frame after it (`arrivals`). Such a box is first looked for on the previous
detection frame by its picture or its detector (`look_back`), where the detector may have
missed it: found there, it is covered from its step between the two, further back than growing
reaches, and what was found there is looked for on the detection frame before that in turn, up
to `reach` detection frames back (a place on a box that frame already has is another target,
and is not taken). A frame is held until a detection frame more than `reach` x N frames after
it has run, so the detection frames after it are known and looking back can still change its
cover (at most (reach + 1) x N + 1 frames buffered), and the last frame of a clip is always a
detection frame. Pairing a box with one on the next or previous detection frame prefers boxes
found there to boxes carried there (`regions.nearest_found`).
"""

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from gateway.redaction.regions import (
    REACH,
    Box,
    arrivals,
    bridge,
    carry,
    centre_in,
    cover_boxes,
    nearest,
)

T = TypeVar("T")
Detect = Callable[[T], tuple[Box, ...]]
# Where boxes found on a detection frame (the first item) were on an earlier one (the second).
LookBack = Callable[[T, T, list[Box]], list[Box]]
# Each box carried on to a detection frame, found again near where it is expected, or None.
LookNear = Callable[[T, list[Box]], list[Box | None]]


class CoverPlanner[T]:
    """Feed frames in order with `push`, then `finish`; both return (frame, boxes) to obscure."""

    def __init__(
        self,
        detect: Detect[T],
        every: int,
        dilation: float,
        hold: int = 0,
        margin: tuple[float, float] = (0.0, 0.0),
        look_back: LookBack[T] | None = None,
        reach: int = 1,
        look_near: LookNear[T] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError("detection interval must be at least 1 frame")
        if reach < 1:
            raise ValueError("looking back must reach at least 1 detection frame")
        self._detect = detect
        self._every = every
        self._dilation = dilation
        self._hold = hold  # 0: no carrying forward (`carry`) and no growing arrivals
        self._margin = margin
        self._look_back = look_back
        self._reach = reach if look_back is not None else 1  # detection frames looked back
        self._look_near = look_near
        self._pending: deque[tuple[int, T]] = deque()
        self._found: dict[int, tuple[Box, ...]] = {}
        self._next_index = 0
        self.detections = 0

    def push(self, item: T) -> list[tuple[T, tuple[Box, ...]]]:
        """Add the next frame; runs detection on it if it is a detection frame."""
        index = self._next_index
        self._next_index += 1
        self._pending.append((index, item))
        if index % self._every == 0:
            self._run(index, item)
        return self._release(final=False)

    def finish(self) -> list[tuple[T, tuple[Box, ...]]]:
        """End of the clip: detect on the last frame if needed and release everything held."""
        if self._pending:
            index, item = self._pending[-1]
            if index not in self._found:
                self._run(index, item)
        return self._release(final=True)

    def _run(self, index: int, item: T) -> None:
        found = self._detect(item)
        # The last detection frames are still in `_found`: `_release` drops only those more than
        # reach x N frames before the oldest frame it has not released.
        last = sorted(self._found)[-2:]
        if self._look_back is not None:
            self._look_back_from(self._look_back, item, found)
        recent = [self._found[f] for f in last]
        if self._hold and recent:
            earlier = recent[-2] if len(recent) > 1 else ()
            carried = carry(earlier, recent[-1], found, self._hold)
            if self._look_near is not None and carried:
                places = self._look_near(item, carried)
                carried = [box if p is None else p for box, p in zip(carried, places, strict=True)]
            found += tuple(carried)
        self._found[index] = found
        self.detections += 1

    def _look_back_from(self, look: LookBack[T], item: T, found: tuple[Box, ...]) -> None:
        """Boxes of `found` with no match on the detection frame before are looked for there,
        and what is found there on the one before that, up to `reach` detection frames back."""
        later, boxes = item, list(found)
        for before in sorted(self._found, reverse=True)[: self._reach]:
            there = self._found[before]
            new = [box for box in boxes if nearest(box, there, REACH) is None]
            if not new:
                return
            # Still held: frames are released only once a detection frame reach x N after them ran.
            previous = next(held for at, held in self._pending if at == before)
            # A place on a box already there is another target, found there already: taken
            # twice, it would pass for the new box's match and steer its cover away.
            places = [p for p in look(later, previous, new) if not centre_in(p, there)]
            if not places:
                return
            self._found[before] = there + tuple(places)
            later, boxes = previous, places

    def _release(self, final: bool) -> list[tuple[T, tuple[Box, ...]]]:
        latest = max(self._found, default=-1)
        ready: list[tuple[T, tuple[Box, ...]]] = []
        hold = self._every * self._reach
        while self._pending and (final or latest > self._pending[0][0] + hold):
            index, item = self._pending.popleft()
            near = [
                boxes for found, boxes in self._found.items() if abs(found - index) <= self._every
            ]
            # The detection frame at or before this one, and the one after it.
            before = max((f for f in self._found if f <= index), default=None)
            after = min((f for f in self._found if f > index), default=None)
            if before is not None and after is not None:
                if before != index:
                    near.append(tuple(bridge(self._found[before], self._found[after])))
                if self._hold:
                    # The detection frame after `after` has run too (see the release rule).
                    later = min((f for f in self._found if f > after), default=None)
                    found_later = self._found[later] if later is not None else ()
                    near.append(
                        tuple(arrivals(self._found[before], self._found[after], found_later))
                    )
            ready.append((item, cover_boxes(near, self._dilation, self._margin)))
        if self._pending:
            oldest = self._pending[0][0] - hold
            for found in [found for found in self._found if found < oldest]:
                del self._found[found]
        return ready
