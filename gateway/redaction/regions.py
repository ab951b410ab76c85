"""Pure geometry of what to obscure: boxes, dilation, unions, and privacy-mask polygons.

No NumPy or OpenCV: `safesmart-gateway` checks --mask options without loading them.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

Point = tuple[float, float]
Polygon = tuple[Point, ...]  # normalised 0..1 (x, y) vertices
# Boxes on neighbouring detection frames are taken for the same target within this many sides.
REACH = 4.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in normalised (0..1) frame coordinates with a detector score.

    `held` counts the detection frames the box was carried over without being found again;
    `kind` names what it covers (a face, a plate): a box is only matched with its own kind.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    held: int = 0
    kind: str = ""

    def contains(self, other: "Box") -> bool:
        """Whether `other` lies wholly inside this box."""
        inside_x = self.x0 <= other.x0 and other.x1 <= self.x1
        return inside_x and self.y0 <= other.y0 and other.y1 <= self.y1

    def dilated(self, factor: float) -> "Box":
        """Grow the box by `factor` of its width/height on each axis (0.25 = 25 % larger)."""
        return self.grown(factor, 0.0, 0.0)

    def grown(self, factor: float, margin_x: float, margin_y: float) -> "Box":
        """Dilated by `factor`, and by at least `margin_x` / `margin_y` on each side."""
        dx = max((self.x1 - self.x0) * factor / 2, margin_x)
        dy = max((self.y1 - self.y0) * factor / 2, margin_y)
        x0, y0, x1, y1 = self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy
        # Called per box per frame: a constructor call, not the slower dataclasses.replace().
        return Box(x0, y0, x1, y1, self.score, self.held, self.kind)

    def shifted(self, dx: float, dy: float) -> "Box":
        """The same box moved by (dx, dy)."""
        return replace(self, x0=self.x0 + dx, y0=self.y0 + dy, x1=self.x1 + dx, y1=self.y1 + dy)

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel bounds clipped to the frame, rounded outward so nothing at the edge is missed."""
        x0 = max(0, math.floor(self.x0 * width))
        y0 = max(0, math.floor(self.y0 * height))
        x1 = min(width, math.ceil(self.x1 * width))
        y1 = min(height, math.ceil(self.y1 * height))
        return x0, y0, x1, y1


def cover_boxes(
    groups: Iterable[Iterable[Box]], dilation: float, margin: tuple[float, float] = (0.0, 0.0)
) -> tuple[Box, ...]:
    """Union of boxes from neighbouring detection frames, each grown so motion stays covered:
    by `dilation` of its size, and at least by `margin` (x, y) on each side, because a small
    face moves as many pixels between detection frames as a large one."""
    return tuple(box.grown(dilation, *margin) for group in groups for box in group)


def nearest(box: Box, others: Sequence[Box], reach: float) -> Box | None:
    """The similar-sized box (half to twice the size) nearest to `box`, within `reach` of its
    widths across and of its heights up or down (so the same in pixels whatever the frame's
    shape: normalised, a square face on a 16:9 frame is 1.8 times taller than wide)."""
    width, height = max(box.x1 - box.x0, 1e-9), max(box.y1 - box.y0, 1e-9)
    side = max(width, height)
    best, best_distance = None, reach
    for other in others:
        other_side = max(other.x1 - other.x0, other.y1 - other.y0)
        if other.kind != box.kind or not 0.5 <= other_side / side <= 2.0:
            continue
        distance = max(abs(other.x0 - box.x0) / width, abs(other.y0 - box.y0) / height)
        if distance <= best_distance:
            best, best_distance = other, distance
    return best


def nearest_found(box: Box, others: Sequence[Box], reach: float) -> Box | None:
    """`nearest`, preferring boxes found there to boxes carried there (`held`): a carried box is
    where a box was expected, and may lie nearer to another target than that target's own box,
    which would then pass for that target's next or last step."""
    found = nearest(box, [other for other in others if not other.held], reach)
    return found if found is not None else nearest(box, others, reach)


def centre_in(box: Box, others: Iterable[Box], grow: float = 0.0) -> bool:
    """Whether the box's centre lies inside one of the others of its kind, each grown by `grow`
    of its size."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    for o in others:  # called for every peak against every kept one: no Box objects made here
        dx, dy = (o.x1 - o.x0) * grow / 2, (o.y1 - o.y0) * grow / 2
        if o.kind == box.kind and o.x0 - dx <= cx <= o.x1 + dx and o.y0 - dy <= cy <= o.y1 + dy:
            return True
    return False


def _hull(a: Box, b: Box) -> Box:
    """The smallest box holding both, with the lower score (and `a`'s kind)."""
    return Box(
        min(a.x0, b.x0),
        min(a.y0, b.y0),
        max(a.x1, b.x1),
        max(a.y1, b.y1),
        min(a.score, b.score),
        kind=a.kind,
    )


def centre_step(origin: Box, box: Box) -> tuple[float, float]:
    """How far the centre moved from `origin` to `box`."""
    dx = (box.x0 + box.x1 - origin.x0 - origin.x1) / 2
    dy = (box.y0 + box.y1 - origin.y0 - origin.y1) / 2
    return dx, dy


def bridge(before: Iterable[Box], after: Iterable[Box], reach: float = REACH) -> list[Box]:
    """Hulls joining each box to the nearest similar-sized box one detection frame later.

    Frames between two detection frames get these, so a face that moved far between them is
    covered along its whole path, not only at its two ends. A wrong pairing only obscures more.
    """
    later = list(after)
    hulls = []
    for box in before:
        best = nearest_found(box, later, reach)
        if best is not None:
            hulls.append(_hull(box, best))
    return hulls


def arrivals(
    before: Iterable[Box], after: Sequence[Box], later: Sequence[Box] = (), reach: float = REACH
) -> list[Box]:
    """Boxes of `after` with no match in `before` (the previous detection frame), grown to twice
    their size: a face that came into view (or out from behind something) since `before` was
    already there on some frames in between, somewhere near where `after` found it. When the
    detection frame after `after` (`later`) finds it again, it also gets the hull back along
    that step: a fast face was up to a whole step behind when it came into view."""
    earlier, following = list(before), list(later)
    grown = []
    for box in after:
        if nearest(box, earlier, reach) is not None:
            continue
        grown.append(box.dilated(1.0))
        ahead = nearest_found(box, following, reach)
        if ahead is not None:
            dx, dy = centre_step(box, ahead)
            grown.append(_hull(box, box.shifted(-dx, -dy)))
    return grown


def carry(
    earlier: Sequence[Box],
    before: Sequence[Box],
    after: Sequence[Box],
    limit: int,
    reach: float = REACH,
) -> list[Box]:
    """Boxes of `before` that `after` (the next detection frame) did not find again, moved on.

    A face the detector misses for a frame or two (dark, blurred, turned) stays covered: it is
    carried to where its last step (from its match in `earlier`) would take it, or grown to
    twice its size where no step is known, for at most `limit` detection frames in a row.
    """
    carried = []
    for box in before:
        if box.held >= limit or nearest(box, after, reach) is not None:
            continue
        origin = nearest_found(box, earlier, reach)
        if origin is None:
            moved = box.dilated(1.0)
        else:
            # The centre's step: a box grown in place (above) keeps its centre, so it stays put.
            moved = box.shifted(*centre_step(origin, box))
        carried.append(replace(moved, held=box.held + 1))
    return carried


# A mask smaller than this share of the frame (about two pixels at 1080p) encloses no area: its
# corners lie on one line, or repeat one point.
MIN_MASK_AREA = 1e-6


def validate_polygon(polygon: Polygon) -> Polygon:
    """Check a privacy mask: at least three corners, each inside the unit square, enclosing an
    area, with edges that neither cross nor touch (where edges cross, which side is inside is
    ambiguous, and a fill by parity leaves the overlap uncovered)."""
    if len(polygon) < 3:
        raise ValueError("a privacy mask needs at least three corners")
    for x, y in polygon:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                "privacy mask corners must lie between 0 and 1 (fractions of the frame)"
            )
    corners = [point for i, point in enumerate(polygon) if point != polygon[i - 1]]
    count = len(corners)
    for i in range(count):
        for j in range(i + 2, count - (i == 0)):  # every later edge but the neighbours
            a, b, c, d = corners[i], corners[i + 1], corners[j], corners[(j + 1) % count]
            if _segments_meet(a, b, c, d):
                raise ValueError(
                    f"a privacy mask's edges {i + 1} and {j + 1} cross or touch: "
                    "draw its outline without crossing itself"
                )
    # Its area, now that its outline is known not to cross itself (shoelace formula).
    twice_area = sum(
        corners[i - 1][0] * corners[i][1] - corners[i][0] * corners[i - 1][1] for i in range(count)
    )
    if count < 3 or abs(twice_area) / 2 < MIN_MASK_AREA:
        raise ValueError("a privacy mask must enclose an area (its corners lie on one line)")
    return polygon


def _orientation(a: Point, b: Point, c: Point) -> int:
    """1 if a, b, c turn counter-clockwise, -1 clockwise, 0 if they lie on one line."""
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (cross > 0) - (cross < 0)


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    """Whether p, known to lie on the line through a and b, lies between them (ends included)."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether the segments ab and cd share a point."""
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(c, a, b))
        or (o2 == 0 and _on_segment(d, a, b))
        or (o3 == 0 and _on_segment(a, c, d))
        or (o4 == 0 and _on_segment(b, c, d))
    )
