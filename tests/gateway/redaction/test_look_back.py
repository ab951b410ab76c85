"""A face found with no match on the previous detection frame is looked for there by its picture."""

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.redaction.detectors.base import DetectionKind, FullFrame, RgbImage
from gateway.redaction.errors import DetectionError
from gateway.redaction.look_back import look_back
from gateway.redaction.pipeline import RedactionJob, redact_with
from gateway.redaction.profiles import DetectionSettings
from gateway.redaction.regions import Box
from tests.gateway.redaction.conftest import Frame, MakeClip, decode_all
from tests.gateway.redaction.test_detection import ASTRONAUT_FACE, astronaut

HEIGHT, WIDTH = 720, 1280
# The astronaut's face shrunk to a small face (22 x 30 px), as a camera across a street sees one.
_left, _top, _right, _bottom = ASTRONAUT_FACE
_GREY = cv2.cvtColor(astronaut()[_top:_bottom, _left:_right], cv2.COLOR_RGB2GRAY)
FACE = cv2.resize(_GREY, (22, 30), interpolation=cv2.INTER_AREA)


def grainy_street(seed: int) -> Frame:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(100, 6, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)


def with_face(image: Frame, x: int, y: int) -> Frame:
    image = image.copy()
    image[y : y + FACE.shape[0], x : x + FACE.shape[1]] = FACE
    return image


def box_at(x: int, y: int) -> Box:
    return Box(x / WIDTH, y / HEIGHT, (x + 22) / WIDTH, (y + 30) / HEIGHT, 0.9, kind="face")


def test_a_face_is_found_where_it_was_a_detection_frame_earlier() -> None:
    # Walking left 12 px a frame: five frames earlier it was 60 px to the right.
    earlier = with_face(grainy_street(1), 660, 400)
    later = with_face(grainy_street(2), 600, 400)
    [moved] = look_back(later, earlier, [box_at(600, 400)])
    assert moved is not None
    assert round(moved.x0 * WIDTH) == 660 and round(moved.y0 * HEIGHT) == 400
    assert (moved.score, moved.kind) == (0.9, "face")


def test_a_face_that_was_not_there_is_not_placed_anywhere() -> None:
    later = with_face(grainy_street(2), 600, 400)
    assert look_back(later, grainy_street(1), [box_at(600, 400)]) == [None]
    # Nor one that moved further than three of its sides.
    far = with_face(grainy_street(1), 600 + 4 * 22 + 10, 400)
    assert look_back(later, far, [box_at(600, 400)]) == [None]


def test_a_flat_patch_is_not_looked_for() -> None:
    flat = np.full((HEIGHT, WIDTH), 120, dtype=np.uint8)
    assert look_back(flat, flat, [box_at(600, 400)]) == [None]


def test_a_large_face_is_compared_shrunk_and_found() -> None:
    big = cv2.resize(FACE, (176, 240), interpolation=cv2.INTER_CUBIC)
    earlier, later = grainy_street(1), grainy_street(2)
    earlier[300:540, 500:676] = big
    later[300:540, 560:736] = big
    box = Box(560 / WIDTH, 300 / HEIGHT, 736 / WIDTH, 540 / HEIGHT, kind="face")
    [moved] = look_back(later, earlier, [box])
    assert moved is not None
    assert abs(moved.x0 * WIDTH - 500) <= 6 and abs(moved.y0 * HEIGHT - 300) <= 6


def test_each_box_gets_its_own_answer_in_order() -> None:
    earlier = with_face(grainy_street(1), 660, 400)
    later = with_face(grainy_street(2), 600, 400)
    moved, missing = look_back(later, earlier, [box_at(600, 400), box_at(100, 100)])
    assert moved is not None and round(moved.x0 * WIDTH) == 660
    assert missing is None


# A face seen on the second detection frame and not the first (clip frames 0 and 5), on flat
# grey where its picture cannot be looked for: its detector is asked to look near it on frame 0.
LATER = Box(0.50, 0.60, 0.60, 0.70, 0.9)
EARLIER = LATER.shifted(0.30, 0.0)  # three of its widths to the right: the same face, walking


class LateFace:
    """A face detector that misses the face on its first call and finds it from the second."""

    kind = DetectionKind.FACE

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        self.calls += 1
        return [] if self.calls == 1 else [LATER]

    def versions(self) -> dict[str, str]:
        return {"late": "1"}


class LateFaceFoundNear(LateFace):
    """...that finds it on the first frame when asked to look near where it was seen later."""

    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        super().__init__()
        self.fail, self.delay = fail, delay
        self.asked: list[tuple[tuple[int, ...], Box]] = []

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        self.asked.append((full.shape, around))
        if self.fail:
            raise RuntimeError("model crashed")
        time.sleep(self.delay)
        return [EARLIER]


def filled_at(frame: Frame, box: Box) -> bool:
    height, width = frame.shape[:2]
    x, y = int((box.x0 + box.x1) / 2 * width), int((box.y0 + box.y1) / 2 * height)
    return float(frame[y - 2 : y + 3, x - 2 : x + 3].mean()) < 40


def redacted(
    make_clip: MakeClip, out: Path, detector: LateFace, timeout_s: float = 10.0
) -> list[Frame]:
    job = RedactionJob(make_clip(frames=12), out)
    redact_with(job, [detector], DetectionSettings(every=5, still_limit=None, timeout_s=timeout_s))
    return decode_all(out)[0]


def test_a_face_whose_picture_is_not_found_earlier_is_looked_for_there_by_its_detector(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    near = LateFaceFoundNear()
    frames = redacted(make_clip, tmp_path / "near.mp4", near)
    assert [(shape, replace(box, kind="")) for shape, box in near.asked] == [((240, 320, 3), LATER)]
    assert all(filled_at(frames[i], EARLIER) for i in range(5))  # covered from the first frame
    # Without looking near, where it was on frame 0 stays uncovered: only growing reaches there.
    frames = redacted(make_clip, tmp_path / "picture-only.mp4", LateFace())
    assert not filled_at(frames[0], EARLIER)


@pytest.mark.parametrize(
    ("detector", "timeout_s", "why"),
    [
        (LateFaceFoundNear(fail=True), 10.0, "failed on the frame at 00:00"),
        (LateFaceFoundNear(delay=0.3), 0.1, "took over 0 s on the frame at 00:00"),
    ],
    ids=["failing", "too slow"],
)
def test_a_detector_failing_or_too_slow_while_looking_near_stops_the_job(
    make_clip: MakeClip, tmp_path: Path, detector: LateFace, timeout_s: float, why: str
) -> None:
    out = tmp_path / "o.mp4"
    with pytest.raises(DetectionError, match=f"The face detector {why}"):
        redacted(make_clip, out, detector, timeout_s)
    assert not out.exists()


class LostFace:
    """A face detector that finds a face walking right on the first two detection frames only;
    asked to look near where the face is carried, it finds it there, lower than it was."""

    kind = DetectionKind.FACE

    def __init__(self) -> None:
        self.calls = 0
        self.asked: list[tuple[int, float | None]] = []

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        self.calls += 1
        return [LATER.shifted(0.05 * (self.calls - 1), 0.0)] if self.calls <= 2 else []

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        self.asked.append((around.held, reach))
        return [THERE]

    def versions(self) -> dict[str, str]:
        return {"lost": "1"}


THERE = LATER.shifted(0.10, 0.08)  # frame 10: where its step takes it, and 0.8 of its height lower


def test_a_face_the_next_detection_frame_misses_is_looked_for_near_where_it_is_carried(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    settings = DetectionSettings(every=5, still_limit=None, dilation=0.0, margin=0.0)
    lost = LostFace()
    redact_with(RedactionJob(make_clip(frames=12), tmp_path / "near.mp4"), [lost], settings)
    frames = decode_all(tmp_path / "near.mp4")[0]
    assert lost.asked[0] == (1, 1.0)  # the box carried to frame 10, within one of its sides
    assert all(filled_at(frames[i], THERE) for i in range(6, 12))
    # Carried alone, it goes on along its old path: where the face went is not covered.
    job = RedactionJob(make_clip(frames=12), tmp_path / "carried.mp4")
    redact_with(job, [LostFace()], replace(settings, look_near=None))
    assert not filled_at(decode_all(tmp_path / "carried.mp4")[0][10], THERE)
