"""The detection schedule: which boxes cover which frame (pure)."""

from collections.abc import Mapping
from dataclasses import replace

import pytest

from gateway.redaction.cover_plan import CoverPlanner, LookBack, LookNear
from gateway.redaction.regions import Box


def run(frames: int, every: int, found_on: set[int]) -> tuple[list[int], dict[int, set[int]]]:
    detected: list[int] = []

    def detect(index: int) -> tuple[Box, ...]:
        detected.append(index)
        return (Box(index, 0, index + 1, 1),) if index in found_on else ()

    planner = CoverPlanner[int](detect, every, dilation=0.0)
    out: list[tuple[int, tuple[Box, ...]]] = []
    for index in range(frames):
        out.extend(planner.push(index))
        assert len(planner._pending) <= 2 * every + 1  # memory bounded by the interval
    out.extend(planner.finish())
    assert [item for item, _ in out] == list(range(frames))
    return detected, {item: {int(b.x0) for b in boxes} for item, boxes in out}


def test_detects_every_nth_frame_and_the_last() -> None:
    detected, _ = run(10, 3, set())
    assert detected == [0, 3, 6, 9]
    detected, _ = run(11, 3, set())
    assert detected == [0, 3, 6, 9, 10]


def test_frames_between_detections_get_both_neighbours() -> None:
    _, cover = run(10, 3, {3, 6})
    assert cover[4] == {3, 6} and cover[5] == {3, 6}
    assert cover[3] == {3, 6}  # a detection frame also takes its neighbours' boxes
    assert cover[0] == {3} and cover[9] == {6}
    assert cover[1] == {3}


def test_every_frame_mode_still_takes_neighbours() -> None:
    _, cover = run(5, 1, {2})
    assert cover == {0: set(), 1: {2}, 2: {2}, 3: {2}, 4: set()}


def test_interval_and_reach_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1 frame"):
        CoverPlanner[int](lambda index: (), 0, 0.2)
    with pytest.raises(ValueError, match="at least 1 detection frame"):
        CoverPlanner[int](lambda index: (), 5, 0.2, look_back=lambda *_: [], reach=0)


def test_dilation_grows_both_axes() -> None:
    box = Box(0.4, 0.4, 0.6, 0.5).dilated(0.5)
    assert (box.x0, box.x1) == pytest.approx((0.35, 0.65))
    assert (box.y0, box.y1) == pytest.approx((0.375, 0.525))


def test_bridge_joins_a_fast_mover_along_its_path() -> None:
    from gateway.redaction.regions import bridge

    start = Box(0.10, 0.50, 0.12, 0.53)
    end = Box(0.16, 0.50, 0.18, 0.53)  # moved three box-widths to the right
    far_away = Box(0.80, 0.10, 0.82, 0.13)
    huge = Box(0.10, 0.50, 0.30, 0.80)  # not the same face: ten times larger
    hulls = bridge([start], [far_away, huge, end])
    assert hulls == [Box(0.10, 0.50, 0.18, 0.53, 1.0)]
    assert bridge([start], [far_away]) == []


def test_frames_between_detections_get_the_hull_of_a_mover() -> None:
    positions = {0: 0.0, 3: 0.3, 6: 0.6}  # a 0.1-wide face moving 0.1 per frame

    def detect(index: int) -> tuple[Box, ...]:
        x = positions[index]
        return (Box(x, 0.4, x + 0.1, 0.5),)

    planner = CoverPlanner[int](detect, 3, dilation=0.0)
    out = [pair for index in range(7) for pair in planner.push(index)] + planner.finish()
    for index, boxes in out:
        x = index / 10  # where the face really is in this frame
        assert any(b.x0 <= x and x + 0.1 <= b.x1 for b in boxes), index


def plan(
    every: int,
    boxes: Mapping[int, tuple[Box, ...]],
    frames: int,
    hold: int,
    look_back: LookBack[int] | None = None,
    reach: int = 1,
    look_near: LookNear[int] | None = None,
) -> list[set[Box]]:
    """Cover boxes per frame, with detections (and what looking back and near finds) scripted
    per detection frame."""
    planner = CoverPlanner[int](
        lambda i: boxes.get(i, ()),
        every,
        dilation=0.0,
        hold=hold,
        look_back=look_back,
        reach=reach,
        look_near=look_near,
    )
    out = []
    for index in range(frames):
        out.extend(planner.push(index))
        assert len(planner._pending) <= (reach + 1) * every + 1  # memory bounded by the reach
    return [set(cover) for _, cover in out + planner.finish()]


def face_at(x: float) -> Box:
    return Box(x, 0.4, x + 0.04, 0.44, 0.9)


def covers(boxes: set[Box], x: float) -> bool:
    return any(b.x0 <= x and x + 0.04 <= b.x1 and b.y0 <= 0.4 and 0.44 <= b.y1 for b in boxes)


def test_a_face_missed_on_a_detection_frame_is_carried_on_along_its_path() -> None:
    # Moving right 0.01 a frame; found on frames 0 and 3, then missed on 6 and 9.
    found = {0: (face_at(0.0),), 3: (face_at(0.03),)}
    cover = plan(3, found, 16, hold=2)
    for index in range(10):
        assert covers(cover[index], index / 100), index  # 6 and 9: carried, moved on
    assert cover[13] == cover[15] == set()  # carried twice at most, then let go
    without = plan(3, found, 16, hold=0)
    assert not covers(without[7], 0.07) and not covers(without[9], 0.09)


def test_a_plate_beside_a_missed_face_does_not_pass_for_it() -> None:
    # The face above, missed on 6 and 9, with a parked car's plate of its size just below its
    # path: a box is matched only with boxes of its own kind, so the face is still carried.
    face, plate = replace(face_at(0.0), kind="face"), Box(0.08, 0.46, 0.12, 0.49, kind="plate")
    found = {0: (face, plate), 3: (face.shifted(0.03, 0), plate), 6: (plate,), 9: (plate,)}
    cover = plan(3, found, 16, hold=2)
    for index in range(10):
        assert covers(cover[index], index / 100), index


def test_a_face_seen_only_once_is_carried_grown_in_place() -> None:
    cover = plan(3, {3: (face_at(0.5),)}, 10, hold=1)
    assert covers(cover[7], 0.5) and covers(cover[8], 0.51)  # grown to twice its size
    assert all(b.held <= 1 for frame in cover for b in frame)


def test_a_face_seen_once_is_grown_once_however_long_it_is_carried() -> None:
    # Carried for six detection frames, in place and twice its size each time: not grown 4, 8
    # ... 64 times, nor moved by the growth taken for a step.
    cover = plan(3, {3: (face_at(0.5),)}, 28, hold=6)
    carried = [b for frame in cover[4:] for b in frame if b.held]
    assert {b.held for b in carried} == set(range(1, 7))
    assert {(round(b.x0, 6), round(b.y0, 6), round(b.x1, 6), round(b.y1, 6)) for b in carried} == {
        (0.48, 0.38, 0.56, 0.46)
    }
    assert cover[25] == cover[27] == set()  # let go after six


def test_a_face_carried_on_is_looked_for_near_where_it_should_be() -> None:
    # Found on frames 0 and 3 moving right 0.01 a frame, then twice as fast; the detection
    # frames miss it from 6 on. Carried along its old step, it is left behind; looked for near
    # there, it is found on 6 and 9 and covered where it is, and carried on from there a
    # detection frame further than carrying alone keeps it (hold 1).
    found = {0: (face_at(0.0),), 3: (face_at(0.03),)}
    asked: list[tuple[int, list[int]]] = []

    def look_near(index: int, carried: list[Box]) -> list[Box | None]:
        asked.append((index, [box.held for box in carried]))
        return [face_at(0.03 + 0.02 * (index - 3)) if index <= 9 else None for _ in carried]

    cover = plan(3, found, 19, hold=1, look_near=look_near)
    for index in range(3, 13):
        assert covers(cover[index], 0.03 + 0.02 * (index - 3)), index
    assert asked == [(6, [1]), (9, [1]), (12, [1])]  # only boxes about to be carried
    assert cover[17] == set()  # not found near 12: carried there once, then let go
    alone = plan(3, found, 19, hold=1)
    assert not covers(alone[6], 0.09) and alone[12] == set()


def test_a_face_arriving_between_detection_frames_is_covered_before_it_was_found() -> None:
    # It comes out from behind a post on frame 4, 0.01 a frame to the left of where frame 6
    # finds it; frames 4 and 5 get the new box grown to twice its size.
    cover = plan(3, {6: (face_at(0.5),), 9: (face_at(0.47),)}, 10, hold=1)
    assert covers(cover[4], 0.52) and covers(cover[5], 0.51)
    assert not covers(plan(3, {6: (face_at(0.5),)}, 10, hold=0)[4], 0.52)


def test_a_fast_face_arriving_is_covered_back_along_its_step() -> None:
    # Comes into view on frame 4 at 0.40, moving right 0.02 a frame: found on frames 6 (0.44)
    # and 9 (0.50). Twice its size around 0.44 misses frame 4; the step back from the next
    # detection frame covers it.
    found = {6: (face_at(0.44),), 9: (face_at(0.50),)}
    cover = plan(3, found, 12, hold=1)
    assert covers(cover[4], 0.40) and covers(cover[5], 0.42)
    assert not covers(plan(3, {6: (face_at(0.44),)}, 12, hold=1)[4], 0.40)


def test_a_face_missed_on_the_detection_frame_it_arrived_on_is_covered_there_too() -> None:
    # In view from frame 3 at 0.38, moving right 0.02 a frame: the detector misses it on frame 3
    # and finds it on frames 6 (0.44) and 9 (0.50). Frame 3 gets the step back from frame 6.
    found = {6: (face_at(0.44),), 9: (face_at(0.50),)}
    cover = plan(3, found, 12, hold=1)
    assert covers(cover[3], 0.38) and covers(cover[4], 0.40)
    assert not covers(plan(3, found, 12, hold=0)[3], 0.38)  # without arrivals, as before
    # A face that frame 3 did find is not stretched back again.
    seen = {3: (face_at(0.38),), **found}
    assert plan(3, seen, 12, hold=1)[3] == plan(3, seen, 12, hold=0)[3]


def test_a_box_carried_beside_a_face_does_not_pass_for_its_next_sighting() -> None:
    # A fast face as above: in view from frame 4 at 0.40, found on frames 6 (0.44) and 9
    # (0.50). Frame 6 also found a narrow second box on it, too narrow to pair with the face's
    # box on frame 9, so it is carried there grown in place: nearer to the face's box on frame 6
    # than the face's own box on frame 9. Taken for the face's next sighting, it would give the
    # face no step: no hull back to frame 4, and a bridge to frames 7-8 that stops short of
    # where the face went.
    face = face_at(0.44)
    second = Box(0.445, 0.402, 0.457, 0.437, 0.4)
    cover = plan(3, {6: (face, second), 9: (face_at(0.50),)}, 12, hold=1)
    for index in (4, 5, 7, 8):
        assert covers(cover[index], 0.40 + 0.02 * (index - 4)), index


def test_a_face_found_late_is_looked_for_on_the_detection_frame_before() -> None:
    # In view from frame 1 at 0.34, moving right 0.02 a frame; the detector misses it on frame
    # 3 and finds it on frames 6 (0.44) and 9 (0.50). Looking back from frame 6 finds it on
    # frame 3 (0.38): frames 1 and 2 are covered back along its step, which growing the box
    # found on frame 6 does not reach.
    found = {6: (face_at(0.44),), 9: (face_at(0.50),)}
    asked: list[tuple[int, int, list[Box]]] = []

    def look_back(later: int, earlier: int, boxes: list[Box]) -> list[Box]:
        asked.append((later, earlier, boxes))
        return [face_at(0.38)] if (later, earlier) == (6, 3) else []

    cover = plan(3, found, 12, hold=1, look_back=look_back)
    assert covers(cover[1], 0.34) and covers(cover[2], 0.36) and covers(cover[3], 0.38)
    assert not covers(plan(3, found, 12, hold=1)[1], 0.34)
    # Only a box with no match on the detection frame before is looked for.
    assert asked == [(6, 3, [face_at(0.44)])]


def test_looking_back_goes_on_from_each_place_found_up_to_its_reach() -> None:
    # A slow face in grain, in view from frame 1 at 0.30 and moving right 0.01 a frame: the
    # detector misses it on frames 3, 6 and 9 and finds it on 12 (0.41). Looking back finds it
    # on 9, and from there on 6 and 3, each from the place found after it; no further than
    # `reach` detection frames back, nor past a detection frame where it is not found.
    found = {12: (face_at(0.41),), 15: (face_at(0.44),)}
    asked: list[tuple[int, int]] = []

    def look_back(later: int, earlier: int, boxes: list[Box]) -> list[Box]:
        asked.append((later, earlier))
        assert [box.x0 for box in boxes] == pytest.approx([0.29 + later / 100])
        return [face_at(0.29 + earlier / 100)] if earlier >= 3 else []

    chained = plan(3, found, 18, hold=1, look_back=look_back, reach=4)
    assert asked == [(12, 9), (9, 6), (6, 3), (3, 0)]  # nothing on frame 0: the chain stops
    for index in range(1, 13):
        assert covers(chained[index], 0.29 + index / 100), index
    asked.clear()
    one = plan(3, found, 18, hold=1, look_back=look_back, reach=1)
    assert asked == [(12, 9)]
    assert not covers(one[4], 0.33) and covers(one[7], 0.36)


def test_a_place_looked_back_to_on_a_box_already_there_is_not_taken_for_the_new_face() -> None:
    # A face a little over twice the size of the new one, at 0.30 on every detection frame
    # (too large to be taken for it); the new one arrives at 0.44 on frame 6, missed on frame 3.
    # Looking back finds the large face again, a little smaller (its crop shows both): taken,
    # it would pass for the new face's match and stretch a hull from 0.30 instead of covering
    # where the new face came from.
    other = Box(0.30, 0.40, 0.385, 0.485, 0.9)
    found = {0: (other,), 3: (other,), 6: (other, face_at(0.44)), 9: (other, face_at(0.50))}
    again = Box(0.305, 0.405, 0.383, 0.483, 0.9)

    def look_back(later: int, earlier: int, boxes: list[Box]) -> list[Box]:
        return [again] if (later, earlier) == (6, 3) else []

    assert plan(3, found, 12, hold=1, look_back=look_back) == plan(3, found, 12, hold=1)


def test_boxes_are_matched_within_so_many_of_their_widths_across_and_heights_down() -> None:
    from gateway.redaction.regions import nearest

    # A square 24 px face on a 1280 x 720 frame: normalised, it is 1.8 times taller than wide.
    face = Box(0.5, 0.5, 0.5 + 24 / 1280, 0.5 + 24 / 720)
    beside = [face.shifted(dx * 24 / 1280, 0.0) for dx in (3.5, 5.0)]
    below = [face.shifted(0.0, dy * 24 / 720) for dy in (3.5, 5.0)]
    assert nearest(face, beside, 4.0) == beside[0] and nearest(face, beside[1:], 4.0) is None
    assert nearest(face, below, 4.0) == below[0] and nearest(face, below[1:], 4.0) is None


def test_a_margin_grows_small_boxes_at_least_so_far() -> None:
    from gateway.redaction.regions import cover_boxes

    tiny, large = Box(0.5, 0.5, 0.51, 0.52), Box(0.1, 0.1, 0.5, 0.5)
    grown_tiny, grown_large = cover_boxes([[tiny, large]], 0.5, margin=(0.02, 0.03))
    assert (grown_tiny.x0, grown_tiny.y0, grown_tiny.x1, grown_tiny.y1) == pytest.approx(
        (0.48, 0.47, 0.53, 0.55)
    )
    assert (grown_large.x0, grown_large.x1) == pytest.approx((0.0, 0.6))  # 50 % beats 0.02
