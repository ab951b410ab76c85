"""The face model's first pass looks again only where the picture changed."""

from typing import Any

import cv2
import numpy as np
import pytest

from gateway.redaction import still
from gateway.redaction.detectors.centerface import CenterFaceDetector
from gateway.redaction.detectors.plates import HaarPlateDetector
from gateway.redaction.regions import Box
from gateway.redaction.still import changed_regions, unchanged
from tests.gateway.redaction.conftest import Frame
from tests.gateway.redaction.test_detection import ASTRONAUT_FACE, astronaut, street_with_plates

HEIGHT, WIDTH = 416, 736  # the detection frame of a 720p clip


def backdrop(seed: int = 5) -> Frame:
    return np.random.default_rng(seed).integers(50, 200, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def test_a_changed_patch_gives_one_rectangle_grown_and_snapped_to_the_grid() -> None:
    before = backdrop()
    after = before.copy()
    after[200:214, 300:312] = 20  # a 24 px face at 720p, downscaled
    assert changed_regions(before, before, 2.0, 2, 32) == []
    [(x0, y0, x1, y1)] = changed_regions(before, after, 2.0, 2, 32)
    assert all(side % 32 == 0 for side in (x0, y0, x1, y1))
    assert x0 <= 300 - 32 and y0 <= 200 - 32 and x1 >= 312 + 32 and y1 >= 214 + 32
    assert (x1 - x0) * (y1 - y0) < 0.1 * WIDTH * HEIGHT


def test_grain_over_the_whole_frame_is_not_change() -> None:
    # A camera's sensor noise changes every block a little; only what moves stands out of it.
    rng = np.random.default_rng(1)
    before = backdrop()

    def grainy(image: Frame) -> Frame:
        noisy = image.astype(np.int16) + rng.normal(0, 4, image.shape).astype(np.int16)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    assert changed_regions(grainy(before), grainy(before), 2.0, 2, 32) == []
    # ... so a still scene in the dark skips the detectors, as one in daylight does.
    assert unchanged(grainy(before), grainy(before), 1.0)
    after = before.copy()
    after[100:130, 600:630] = 250
    [(x0, y0, x1, y1)] = changed_regions(grainy(before), grainy(after), 2.0, 2, 32)
    assert x0 <= 600 and x1 >= 630 and y0 <= 100 and y1 >= 130
    assert x1 - x0 <= 128 and y1 - y0 <= 128


def test_a_change_of_light_over_the_whole_frame_is_change_everywhere() -> None:
    # Lights switching on, or a camera turning to infrared: every block changes alike, which
    # the median would otherwise take for grain.
    before = backdrop()
    brighter = np.clip(before.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    assert changed_regions(before, brighter, 2.0, 2, 32) == [(0, 0, WIDTH, HEIGHT)]


def test_far_changes_stay_apart_and_overlapping_ones_are_merged() -> None:
    before = backdrop()
    apart = before.copy()
    apart[40:60, 40:60] = 0
    apart[340:360, 640:660] = 0
    assert len(changed_regions(before, apart, 2.0, 2, 32)) == 2
    inside = before.copy()
    inside[40:60, 40:400] = 0  # an L: its rectangle holds the small change apart from it
    inside[40:380, 40:60] = 0
    inside[300:310, 300:310] = 0
    [(x0, y0, x1, y1)] = changed_regions(before, inside, 2.0, 2, 32)
    assert x0 == 0 and y0 == 0 and x1 >= 400 and y1 >= 380


def test_a_change_over_most_of_the_frame_is_searched_as_a_crop_and_over_all_of_it_whole() -> None:
    # Searching costs in proportion to the pixels searched, so a crop of over half the frame is
    # still cheaper than the whole; only a change over nearly all of it is looked at whole.
    changes = still.Changes(2.0, 2, 32)
    searched: list[still.Rect] = []

    def search(rect: still.Rect, region: Box) -> list[Box]:
        searched.append(rect)
        return []

    before = backdrop()
    changes.look(before, [], search)
    half = before.copy()
    half[:, :352] = 0
    changes.look(half, [], search)
    stripes = half.copy()
    for x in (*range(0, 600, 96), 640):
        stripes[:, x : x + 32] = 255
    assert changed_regions(half, stripes, 2.0, 2, 32) == [(0, 0, 704, HEIGHT)]
    changes.look(stripes, [], search)
    assert searched == [(0, 0, WIDTH, HEIGHT), (0, 0, 384, HEIGHT), (0, 0, WIDTH, HEIGHT)]


class RecordingSession:
    """onnxruntime's session, noting the size of every batch it is given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sizes: list[tuple[int, int]] = []

    def run(self, outputs: list[str], feeds: dict[str, Any]) -> Any:
        self.sizes.append(next(iter(feeds.values())).shape[2:])
        return self.inner.run(outputs, feeds)


def with_astronaut(image: Frame, x: int, y: int) -> Frame:
    scene = image.copy()
    scene[y : y + 256, x : x + 256] = astronaut()[::2, ::2]
    return scene


def face_near(boxes: list[Box], x: int, y: int) -> bool:
    """Whether a box covers the centre of the face of an astronaut pasted at (x, y)."""
    cx = (x + (ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 4) / WIDTH
    cy = (y + (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 4) / HEIGHT
    return any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in boxes)


def test_the_first_pass_runs_where_the_picture_changed_and_keeps_faces_elsewhere() -> None:
    detector = CenterFaceDetector(threshold=0.3, regions=True)
    session = detector._session = RecordingSession(detector._session)
    empty = np.full((HEIGHT, WIDTH, 3), 120, dtype=np.uint8)
    first = with_astronaut(empty, 40, 80)
    assert face_near(list(detector.detect(first)), 40, 80)
    assert session.sizes == [(HEIGHT, WIDTH)]
    # A second visitor arrives on the right: found on a crop there, the first face kept.
    second = with_astronaut(first, 440, 100)
    boxes = list(detector.detect(second))
    assert face_near(boxes, 40, 80) and face_near(boxes, 440, 100)
    assert len(session.sizes) == 2 and session.sizes[1][1] < WIDTH / 2
    # The first one leaves: its face is gone, not kept where it was.
    third = with_astronaut(empty, 440, 100)
    boxes = list(detector.detect(third))
    assert not face_near(boxes, 40, 80) and face_near(boxes, 440, 100)
    # Nothing changes: no pass at all until the whole frame is looked at again.
    for _ in range(still.REFRESH - 2):
        assert face_near(list(detector.detect(third)), 440, 100)
    assert len(session.sizes) == 3
    detector.detect(third)
    assert session.sizes[-1] == (HEIGHT, WIDTH)


@pytest.mark.parametrize("regions", [False, True])
def test_a_frame_changed_all_over_is_looked_at_whole(regions: bool) -> None:
    detector = CenterFaceDetector(threshold=0.3, regions=regions)
    session = detector._session = RecordingSession(detector._session)
    detector.detect(with_astronaut(backdrop(1), 40, 80))
    boxes = detector.detect(with_astronaut(backdrop(2), 400, 80))
    assert face_near(list(boxes), 400, 80) and not face_near(list(boxes), 40, 80)
    assert session.sizes == [(HEIGHT, WIDTH)] * 2


def test_plates_are_searched_again_where_the_picture_changed_and_kept_elsewhere() -> None:
    frame, (small_plate, large_plate) = street_with_plates()
    # The car with the small plate drives off; the other stays parked.
    gone = frame.copy()
    x0, y0, x1, y1 = small_plate.to_pixels(1280, 720)
    gone[y0 - 10 : y1 + 10, x0 - 10 : x1 + 10] = 95

    def detection_frame(full: Frame) -> Frame:
        return np.asarray(cv2.resize(full, (736, 416), interpolation=cv2.INTER_AREA), np.uint8)

    detector = HaarPlateDetector(regions=True)
    cascade = RecordingCascade(detector._cascade)
    detector._cascade = cascade  # type: ignore[assignment]  # records, then searches as OpenCV
    assert len(detector.detect(detection_frame(frame), lambda: frame)) == 2
    [kept] = detector.detect(detection_frame(gone), lambda: gone)
    middle = (large_plate.x0 + large_plate.x1) / 2, (large_plate.y0 + large_plate.y1) / 2
    assert kept.contains(Box(*middle, *middle))
    # It comes back: found again where it changed, the parked one still kept.
    assert len(detector.detect(detection_frame(frame), lambda: frame)) == 2
    whole, *crops = cascade.sizes
    assert whole == (720, 1280) and len(crops) == 2
    assert all(h * w < 0.2 * 720 * 1280 for h, w in crops)


class RecordingCascade:
    """OpenCV's cascade classifier, noting the size of every image it searches."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sizes: list[tuple[int, int]] = []

    def detectMultiScale(self, image: Any, **options: Any) -> Any:  # OpenCV's name
        self.sizes.append(image.shape[:2])
        return self.inner.detectMultiScale(image, **options)
