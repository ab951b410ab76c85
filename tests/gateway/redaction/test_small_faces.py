"""The second look: doubtful CenterFace peaks are checked on a full-resolution crop."""

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from gateway.redaction.detectors.base import DetectionKind, FullFrame, RgbImage
from gateway.redaction.detectors.centerface import CenterFaceDetector
from gateway.redaction.pipeline import RedactionJob, redact_with
from gateway.redaction.profiles import DetectionSettings, Profile, build_detectors
from gateway.redaction.regions import Box
from tests.gateway.redaction.conftest import MakeClip
from tests.gateway.redaction.test_detection import ASTRONAUT_FACE, astronaut

FACE_AT = (600, 400)  # top-left corner of the pasted face in a 1280x720 frame


def small_face_frame(index: int, size: int = 24) -> RgbImage:
    """A grey 1280x720 frame with one LFW face, `size` px wide, and nothing else."""
    face = skimage.data.lfw_subset()[index]  # type: ignore[no-untyped-call]
    rgb = np.stack([face] * 3, -1) * 255
    pasted = cv2.resize(rgb.astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 120, np.uint8)
    x, y = FACE_AT
    frame[y : y + size, x : x + size] = pasted
    return frame


def downscaled(frame: RgbImage) -> RgbImage:
    return np.asarray(cv2.resize(frame, (736, 416), interpolation=cv2.INTER_AREA), np.uint8)


def production() -> CenterFaceDetector:
    """The face detector exactly as the standard profile builds it."""
    faces = build_detectors(Profile.STANDARD)[0]
    assert isinstance(faces, CenterFaceDetector)
    return faces


@pytest.mark.parametrize("index", [60, 72])
def test_a_24_px_face_missed_by_the_first_pass_is_found_by_the_second(index: int) -> None:
    frame = small_face_frame(index)
    assert CenterFaceDetector(None, threshold=0.1).detect(downscaled(frame)) == []
    boxes = production().detect(downscaled(frame), lambda: frame)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0].to_pixels(1280, 720)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    assert abs(cx - (FACE_AT[0] + 12)) < 8 and abs(cy - (FACE_AT[1] + 12)) < 8
    assert boxes[0].score >= 0.3  # the score it earned on the full-resolution crop


TEXTURES = ["coffee", "rocket", "brick", "grass", "gravel", "text", "coins", "moon", "chelsea"]


def texture(name: str, dark: bool) -> RgbImage:
    """A faceless photograph at 720p; `dark`: at 45 % brightness with sensor noise."""
    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype != np.uint8:
        image = (np.clip(image / max(1, image.max()), 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    frame = np.asarray(cv2.resize(image[..., :3], (1280, 720)), np.int16)
    if dark:
        noise = np.random.default_rng(3).normal(0, 6, frame.shape).astype(np.int16)
        frame = frame * 115 // 256 + noise
    return np.asarray(np.clip(frame, 0, 255), np.uint8)


def full_frame(frame: RgbImage) -> FullFrame:
    """The full-resolution frame, as the pipeline hands it to a detector."""
    return lambda: frame


def test_the_second_look_turns_down_face_like_texture() -> None:
    loose = CenterFaceDetector(None, threshold=0.02)
    single_pass = CenterFaceDetector(None, threshold=0.1)  # the one-pass setting it replaced
    detector = production()
    doubtful = fooled_single_pass = 0
    for name in TEXTURES:
        for dark in (False, True):
            frame = texture(name, dark)
            small = downscaled(frame)
            doubtful += len(loose.detect(small))
            fooled_single_pass += len(single_pass.detect(small))
            assert detector.detect(small, full_frame(frame)) == [], (name, dark)
    assert doubtful >= 10  # there were peaks to look at twice, and none was a face
    assert fooled_single_pass >= 1  # grainy dark texture fools a single pass at 0.1


class FullFrameProbe:
    """Records the shapes of the detection image and of the full frame it is handed."""

    kind = DetectionKind.FACE

    def __init__(self) -> None:
        self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        assert full is not None
        self.shapes.append((image.shape, full().shape))
        return []

    def versions(self) -> dict[str, str]:
        return {"probe": "1"}


def test_the_pipeline_hands_detectors_the_frame_at_full_resolution(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    probe = FullFrameProbe()
    job = RedactionJob(make_clip(frames=4, width=1280, height=720), tmp_path / "o.mp4")
    redact_with(job, [probe], DetectionSettings(every=2, still_limit=None))
    assert probe.shapes == [((416, 736, 3), (720, 1280, 3))] * 3  # frames 0, 2 and the last


def test_a_crop_checked_before_is_checked_again_once_its_picture_changes() -> None:
    detector = production()
    x, y = FACE_AT
    candidate = Box((x - 4) / 1280, (y - 4) / 720, (x + 28) / 1280, (y + 28) / 720, 0.05)
    empty = np.full((720, 1280, 3), 120, np.uint8)
    assert detector._verify(empty, [candidate]) == []
    with_face = small_face_frame(60)  # the same spot, now with a face in it
    found = detector._verify(with_face, [candidate])
    assert len(found) == 1
    assert detector._verify(with_face.copy(), [candidate]) == found  # unchanged: same answer
    assert detector._verify(empty, [candidate]) == []


def small_box(x: int, y: int, size: int = 24) -> Box:
    return Box(x / 1280, y / 720, (x + size) / 1280, (y + size) / 720, 0.9, kind="face")


def centre_px(box: Box) -> tuple[float, float]:
    x0, y0, x1, y1 = box.to_pixels(1280, 720)
    return (x0 + x1) / 2, (y0 + y1) / 2


@pytest.mark.parametrize("index", [60, 72])
def test_a_face_the_first_pass_missed_is_found_near_where_it_was_seen_later(index: int) -> None:
    frame = small_face_frame(index)
    assert CenterFaceDetector(None, threshold=0.1).detect(downscaled(frame)) == []
    x, y = FACE_AT
    # Found 60 px left of here on the next detection frame (walking left, 12 px a frame).
    [found] = production().detect_near(frame, small_box(x - 60, y))
    cx, cy = centre_px(found)
    assert abs(cx - (x + 12)) < 8 and abs(cy - (y + 12)) < 8
    assert found.score >= 0.3  # accepted as a second look accepts


def test_looking_near_reaches_as_many_of_the_face_s_sides_as_asked() -> None:
    frame, detector = small_face_frame(60), production()
    x, y = FACE_AT
    # 60 px off, two and a half of its sides: found looking three sides around (above), not one.
    assert detector.detect_near(frame, small_box(x - 60, y), reach=1.0) == []
    [found] = detector.detect_near(frame, small_box(x - 12, y), reach=1.0)
    cx, cy = centre_px(found)
    assert abs(cx - (x + 12)) < 8 and abs(cy - (y + 12)) < 8


@pytest.mark.parametrize("index", [0, 28, 70])
def test_looking_near_enlarges_a_small_face_as_the_second_look_does(index: int) -> None:
    # A 20 px face is 20 px on a crop at full resolution, where CenterFace scores it 0.0-0.2;
    # enlarged to 32 px, as the second look enlarges its crops, it scores 0.75-0.85.
    frame = small_face_frame(index, size=20)
    x, y = FACE_AT
    [found] = production().detect_near(frame, small_box(x - 40, y, 20))
    cx, cy = centre_px(found)
    assert abs(cx - (x + 10)) < 6 and abs(cy - (y + 10)) < 6
    assert found.score >= 0.3


def test_looking_near_finds_a_large_face_on_a_shrunk_crop_and_nothing_beyond_its_reach() -> None:
    frame = np.full((720, 1280, 3), 90, dtype=np.uint8)
    frame[40:552, 100:612] = astronaut()
    left, top, right, bottom = ASTRONAUT_FACE
    face = Box((100 + left) / 1280, (40 + top) / 720, (100 + right) / 1280, (40 + bottom) / 720)
    detector = production()
    # One side to the right: the crop reaches three sides each way, more than fits in 256 px.
    [found] = detector.detect_near(frame, face.shifted((right - left) / 1280, 0))
    cx, cy = centre_px(found)
    assert abs(cx - (100 + (left + right) / 2)) < 20 and abs(cy - (40 + (top + bottom) / 2)) < 30
    # A small face's reach is small: from 200 px away there is nothing to see.
    assert detector.detect_near(small_face_frame(60), small_box(FACE_AT[0] + 200, 400)) == []


def test_looking_near_turns_down_face_like_texture() -> None:
    detector = production()
    for name in TEXTURES:
        for dark in (False, True):
            frame = texture(name, dark)
            for x, y in ((200, 150), (620, 340), (1000, 560)):
                for size in (16, 24, 32):  # the smaller ones enlarged, as a second look's crop
                    around = small_box(x, y, size)
                    assert detector.detect_near(frame, around) == [], (name, dark, x, y, size)
