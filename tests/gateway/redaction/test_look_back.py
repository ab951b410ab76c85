"""A face found with no match on the previous detection frame is looked for there by its picture."""

import cv2
import numpy as np

from gateway.redaction.look_back import look_back
from gateway.redaction.regions import Box
from tests.gateway.redaction.conftest import Frame
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
    assert round(moved.x0 * WIDTH) == 660 and round(moved.y0 * HEIGHT) == 400
    assert (moved.score, moved.kind) == (0.9, "face")


def test_a_face_that_was_not_there_is_not_placed_anywhere() -> None:
    later = with_face(grainy_street(2), 600, 400)
    assert look_back(later, grainy_street(1), [box_at(600, 400)]) == []
    # Nor one that moved further than three of its sides.
    far = with_face(grainy_street(1), 600 + 4 * 22 + 10, 400)
    assert look_back(later, far, [box_at(600, 400)]) == []


def test_a_flat_patch_is_not_looked_for() -> None:
    flat = np.full((HEIGHT, WIDTH), 120, dtype=np.uint8)
    assert look_back(flat, flat, [box_at(600, 400)]) == []


def test_a_large_face_is_compared_shrunk_and_found() -> None:
    big = cv2.resize(FACE, (176, 240), interpolation=cv2.INTER_CUBIC)
    earlier, later = grainy_street(1), grainy_street(2)
    earlier[300:540, 500:676] = big
    later[300:540, 560:736] = big
    box = Box(560 / WIDTH, 300 / HEIGHT, 736 / WIDTH, 540 / HEIGHT, kind="face")
    [moved] = look_back(later, earlier, [box])
    assert abs(moved.x0 * WIDTH - 500) <= 6 and abs(moved.y0 * HEIGHT - 300) <= 6
