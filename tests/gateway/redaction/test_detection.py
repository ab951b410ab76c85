"""Detectors behind the Protocol: real CenterFace on a real face, fail-closed on failures."""

import hashlib
import math
import struct
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from gateway.redaction.detectors.base import DetectionKind, Detector, FullFrame, RgbImage
from gateway.redaction.detectors.centerface import CenterFaceDetector, bundled_model
from gateway.redaction.detectors.plates import HaarPlateDetector, bundled_cascades
from gateway.redaction.errors import DetectionError, RedactionError
from gateway.redaction.pipeline import RedactionJob, redact, redact_with
from gateway.redaction.profiles import DetectionSettings, Models
from gateway.redaction.regions import Box
from tests.gateway.redaction.conftest import Frame, MakeClip, decode_all

ASTRONAUT_FACE = (182, 58, 270, 178)  # x0, y0, x1, y1 in skimage.data.astronaut()


def astronaut() -> Frame:
    """skimage's bundled photograph of Eileen Collins, 512x512 RGB."""
    return np.asarray(skimage.data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]


def astronaut_scene(index: int, width: int, height: int) -> Frame:
    """A grey frame with the astronaut photograph pasted at (100, 40), face included."""
    frame = np.full((height, width, 3), 90, dtype=np.uint8)
    frame[40:552, 100:612] = astronaut()
    return frame


class ScriptedDetector:
    """A detector that returns fixed boxes, raises from a given call, or is slow."""

    kind = DetectionKind.FACE

    def __init__(self, boxes: Sequence[Box] = (), fail_from: int | None = None, delay: float = 0):
        self.boxes, self.fail_from, self.delay, self.calls = list(boxes), fail_from, delay, 0

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        self.calls += 1
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise RuntimeError("model crashed")
        time.sleep(self.delay)
        return self.boxes

    def versions(self) -> dict[str, str]:
        return {"scripted": "1"}


def test_scripted_detector_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedDetector(), Detector)
    assert isinstance(HaarPlateDetector(), Detector)


def test_bundled_centerface_finds_the_astronaut() -> None:
    image = astronaut()  # 512x512: multiples of 32
    boxes = CenterFaceDetector().detect(image)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0].to_pixels(512, 512)
    fx0, fy0, fx1, fy1 = ASTRONAUT_FACE
    assert abs(x0 - fx0) < 15 and abs(y0 - fy0) < 15 and abs(x1 - fx1) < 15 and abs(y1 - fy1) < 15


def test_standard_profile_obscures_a_real_face(make_clip: MakeClip, tmp_path: Path) -> None:
    src = make_clip(frames=12, width=1280, height=720, painter=astronaut_scene)
    out = tmp_path / "out.mp4"
    report = redact(RedactionJob(src, out, preview=tmp_path / "p.png"))
    assert report.faces >= 1 and report.profile == "standard"
    assert "face-model:centerface.onnx" in report.tools
    x0, y0, x1, y1 = ASTRONAUT_FACE
    for frame in decode_all(out)[0]:
        face = frame[40 + y0 : 40 + y1, 100 + x0 : 100 + x1]
        assert face.max() < 40  # solid fill over the whole face box
        assert frame[600:700, 700:1200].mean() > 60  # the background is not blacked out


def test_a_resident_supplied_face_model_is_used(make_clip: MakeClip, tmp_path: Path) -> None:
    model = tmp_path / "better.onnx"
    model.write_bytes(bundled_model().read_bytes())
    report = redact(RedactionJob(make_clip(frames=3), tmp_path / "o.mp4", models=Models(model)))
    assert "face-model:better.onnx" in report.tools


# A valid ONNX model (opset 13) with CenterFace's input, 'input.1', and one Identity output, 'y'.
IDENTITY_ONNX = bytes.fromhex(
    "08083a5b0a160a07696e7075742e3112017922084964656e746974791201675a"
    "210a07696e7075742e3112160a14080112100a0208010a0208030a0208200a02"
    "0820621b0a017912160a14080112100a0208010a0208030a0208200a02082042"
    "040a00100d"
)


@pytest.mark.parametrize("content", [b"not a model", IDENTITY_ONNX])
def test_a_broken_face_model_is_refused_clearly(
    make_clip: MakeClip, tmp_path: Path, content: bytes
) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(content)
    with pytest.raises(RedactionError, match="not a CenterFace-compatible ONNX file"):
        redact(RedactionJob(make_clip(frames=3), tmp_path / "o.mp4", models=Models(model)))
    assert not (tmp_path / "o.mp4").exists()


def test_a_resident_supplied_plate_cascade_is_what_searches_for_plates(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # OpenCV's frontal-face cascade standing in for a country's plate cascade: it finds the
    # astronaut's face, where the bundled plate cascade finds nothing.
    cascade = tmp_path / "our-plates.xml"
    cascade.write_bytes((bundled_cascades() / "haarcascade_frontalface_default.xml").read_bytes())
    still = make_clip("still.mp4", frames=3, width=1280, height=720, painter=astronaut_scene)
    assert redact(RedactionJob(still, tmp_path / "bundled.mp4")).plates == 0
    # 6.7 s: two segment processes, and the report names the worker's models.
    src = make_clip(frames=200, width=1280, height=720, painter=astronaut_scene, gop=30)
    report = redact(RedactionJob(src, tmp_path / "o.mp4", models=Models(plates=cascade)))
    assert report.plates >= 2
    digest = hashlib.sha256(cascade.read_bytes()).hexdigest()
    assert report.tools["plate-model:our-plates.xml"] == digest
    assert "plate-model:haarcascade_russian_plate_number.xml" not in report.tools


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plate model file does not exist"),
        (b"\x00\x01 not a cascade", "not an OpenCV cascade file"),
        (b'<?xml version="1.0"?><opencv_storage></opencv_storage>', "not an OpenCV cascade"),
    ],
)
def test_a_broken_plate_model_is_refused_clearly(
    make_clip: MakeClip, tmp_path: Path, content: bytes | None, message: str
) -> None:
    cascade = tmp_path / "plates.xml"
    if content is not None:
        cascade.write_bytes(content)
    with pytest.raises(RedactionError, match=message):
        redact(RedactionJob(make_clip(frames=3), tmp_path / "o.mp4", models=Models(plates=cascade)))
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("fail_from", [1, 2, 5])
def test_detector_failure_stops_the_job_and_writes_nothing(
    make_clip: MakeClip, tmp_path: Path, fail_from: int
) -> None:
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    detector = ScriptedDetector(fail_from=fail_from)
    job = RedactionJob(make_clip(frames=60), out, preview=out.parent / "p.png")
    with pytest.raises(DetectionError, match="face detector failed on the frame at 00:0"):
        redact_with(job, [detector], DetectionSettings(every=2))
    assert detector.calls == fail_from
    assert list(out.parent.iterdir()) == []


def test_slow_detector_counts_as_failed(make_clip: MakeClip, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    job = RedactionJob(make_clip(frames=10), out)
    with pytest.raises(DetectionError, match="took over"):
        redact_with(job, [ScriptedDetector(delay=0.05)], DetectionSettings(timeout_s=0.01))
    assert not out.exists()


class FoundOnceThenNotANumberNear(ScriptedDetector):
    """Finds a face on the first detection frame only; looking near where it should be next
    (as a carried box is looked for), it returns a box that is not a number."""

    def __init__(self) -> None:
        super().__init__([Box(0.4, 0.4, 0.5, 0.5)])

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        found = super().detect(image, full)
        return found if self.calls == 1 else []

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        return [replace(around, y1=math.nan)]


@pytest.mark.parametrize(
    ("detector", "at"),
    [
        (ScriptedDetector([Box(math.nan, 0.4, 0.5, 0.5)]), "00:00"),
        (ScriptedDetector([Box(0.4, 0.4, math.inf, 0.5)]), "00:00"),
        (ScriptedDetector([Box(0.4, 0.4, 0.5, 0.5, score=math.nan)]), "00:00"),
        (FoundOnceThenNotANumberNear(), "00:01"),
    ],
    ids=["nan corner", "infinite corner", "nan score", "looking near"],
)
def test_a_box_that_is_not_a_number_stops_the_job_and_writes_nothing(
    make_clip: MakeClip, tmp_path: Path, detector: ScriptedDetector, at: str
) -> None:
    # A resident's own model may give NaN or infinity: no box is drawn from it, and the
    # resident is told which detector it was.
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    job = RedactionJob(make_clip(frames=60), out, preview=out.parent / "p.png")
    with pytest.raises(
        DetectionError, match=f"face detector returned a box on the frame at {at} that is not"
    ):
        redact_with(job, [detector], DetectionSettings(every=30))
    assert list(out.parent.iterdir()) == []


def test_a_box_with_its_corners_the_wrong_way_round_stops_the_job(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    out = tmp_path / "o.mp4"
    detector = ScriptedDetector([Box(0.5, 0.4, 0.4, 0.5)])  # x1 < x0: it would cover nothing
    with pytest.raises(
        DetectionError, match="box on the frame at 00:00 whose corners are the wrong way"
    ):
        redact_with(RedactionJob(make_clip(frames=10), out), [detector], DetectionSettings())
    assert not out.exists()


def test_a_face_model_that_gives_no_numbers_stops_the_job(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    # A resident's model with broken weights: its heatmap is NaN everywhere, which no
    # threshold passes, so it found no face, silently, and the clip went out unredacted.
    from gateway.redaction.detectors.onnx_graph import _parse, _serialise

    def poisoned(message: bytes, path: tuple[int, ...]) -> bytes:
        """`message` with every float tensor's raw data (path: graph 7, initializer 5, raw
        data 9 in onnx.proto3) replaced by NaN."""
        fields = []
        for number, wire, payload in _parse(message):
            if number == path[0]:
                if len(path) > 1:
                    payload = poisoned(payload, path[1:])
                else:
                    payload = struct.pack("<f", math.nan) * (len(payload) // 4)
            fields.append((number, wire, payload))
        return _serialise(fields)

    model = tmp_path / "broken-weights.onnx"
    model.write_bytes(poisoned(bundled_model().read_bytes(), (7, 5, 9)))
    out = tmp_path / "o.mp4"
    with pytest.raises(DetectionError, match="face detector failed on the frame at 00:00"):
        redact(RedactionJob(make_clip(frames=10), out, models=Models(model)))
    assert not out.exists()


def test_boxes_cover_every_frame_between_detections(make_clip: MakeClip, tmp_path: Path) -> None:
    def white(index: int, width: int, height: int) -> Frame:
        return np.full((height, width, 3), 235, dtype=np.uint8)

    out = tmp_path / "o.mp4"
    detector = ScriptedDetector([Box(0.25, 0.25, 0.5, 0.5)])
    job = RedactionJob(make_clip(frames=31, painter=white), out)
    settings = DetectionSettings(every=3, dilation=0.2, still_limit=None)
    report = redact_with(job, [detector], settings)
    assert detector.calls == 11  # frames 0, 3, ..., 30
    assert report.faces == 11
    for frame in decode_all(out)[0]:
        # dilated by 20 %: 0.225..0.525 of 320x240
        assert frame[56:124, 74:166].max() < 40
        assert frame[130:230, 180:310].min() > 200


def test_held_detector_runs_every_other_call_and_grows_held_boxes() -> None:
    from gateway.redaction.detectors.held import HOLD_DILATION, HeldDetector

    inner = ScriptedDetector([Box(0.4, 0.4, 0.6, 0.6)])
    held = HeldDetector(inner, hold=2)
    image = np.zeros((32, 32, 3), np.uint8)
    results = [list(held.detect(image)) for _ in range(4)]
    assert inner.calls == 2 and held.kind is DetectionKind.FACE
    assert results[0] == results[2] == [Box(0.4, 0.4, 0.6, 0.6)]
    assert results[1] == [Box(0.4, 0.4, 0.6, 0.6).dilated(HOLD_DILATION)]


class PlateRuns:
    """A plate detector that answers each run from a script."""

    kind = DetectionKind.PLATE

    def __init__(self, runs: list[list[Box]]) -> None:
        self.runs = runs

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        return self.runs.pop(0)

    def versions(self) -> dict[str, str]:
        return {}


class FollowedPlates(PlateRuns):
    """...that also looks for a plate again near where it is expected, from a second script."""

    def __init__(self, runs: list[list[Box]], near: list[list[Box]]) -> None:
        super().__init__(runs)
        self.near = near
        self.asked: list[Box] = []

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        self.asked.append(around)
        return self.near.pop(0)


def same(found: Sequence[Box], expected: Sequence[Box]) -> bool:
    return len(found) == len(expected) and all(
        abs(a.x0 - b.x0) < 1e-9 and abs(a.x1 - b.x1) < 1e-9 and abs(a.y0 - b.y0) < 1e-9
        for a, b in zip(found, expected, strict=True)
    )


def test_held_boxes_move_on_with_their_plate_and_a_missed_plate_is_carried_twice() -> None:
    from gateway.redaction.detectors.held import HOLD_DILATION, HeldDetector

    plate = Box(0.10, 0.5, 0.20, 0.55)
    # Found, found again 0.03 further right, then missed three times (a manoeuvring car, in grain).
    held = HeldDetector(PlateRuns([[plate], [plate.shifted(0.03, 0)], [], [], []]), hold=3)
    image = np.zeros((32, 32, 3), np.uint8)
    calls = [list(held.detect(image)) for _ in range(15)]

    def at(x: float, grown: bool) -> Box:
        box = plate.shifted(x - plate.x0, 0)
        return box.dilated(HOLD_DILATION) if grown else box

    assert same(calls[1], [at(0.10, True)]) and same(calls[2], [at(0.10, True)])  # no pace yet
    assert same(calls[3], [at(0.13, False)])
    assert same(calls[4], [at(0.14, True)]) and same(calls[5], [at(0.15, True)])  # moving on
    assert same(calls[6], [at(0.16, False)]) and calls[6][0].held == 1  # missed: carried
    assert same(calls[7], [at(0.17, True)]) and same(calls[8], [at(0.18, True)])
    assert same(calls[9], [at(0.19, False)]) and calls[9][0].held == 1  # missed again: carried
    assert same(calls[10], [at(0.20, True)]) and same(calls[11], [at(0.21, True)])
    assert calls[12:] == [[], [], []]  # missed a third time: dropped


def test_a_plate_seen_once_and_then_missed_is_carried_in_place() -> None:
    from gateway.redaction.detectors.held import HeldDetector

    plate = Box(0.10, 0.5, 0.20, 0.55)
    held = HeldDetector(PlateRuns([[plate], [], [], []]), hold=1)
    image = np.zeros((32, 32, 3), np.uint8)
    calls = [list(held.detect(image)) for _ in range(4)]
    # No pace known: most likely parked, so held in place, not grown.
    assert calls[1] == calls[2] == [replace(plate, held=1)]
    assert calls[3] == []


def test_a_plate_pulling_away_is_followed_between_runs() -> None:
    from gateway.redaction.detectors.held import HOLD_DILATION, HeldDetector

    plate = Box(0.10, 0.5, 0.20, 0.55)
    # Found by a run, found again nearby twice as the car pulls away, then missed everywhere.
    inner = FollowedPlates(
        [[plate], []], near=[[plate.shifted(0.02, 0)], [plate.shifted(0.04, 0)], [], []]
    )
    held = HeldDetector(inner, hold=3)
    image = np.zeros((32, 32, 3), np.uint8)
    calls = [list(held.detect(image, lambda: image)) for _ in range(6)]
    assert calls[0] == [plate]
    assert same(calls[1], [plate.shifted(0.02, 0)]) and same(calls[2], [plate.shifted(0.04, 0)])
    # Looked for where expected: in place at first, then at the pace it showed.
    assert same(inner.asked[:2], [plate, plate.shifted(0.04, 0)])
    # The run misses it: carried on from where it was last seen, at its pace since then.
    assert same(calls[3], [plate.shifted(0.06, 0)]) and calls[3][0].held == 1
    assert same(inner.asked[2:], [plate.shifted(0.08, 0), plate.shifted(0.10, 0)])
    assert same(calls[4], [plate.shifted(0.08, 0).dilated(HOLD_DILATION)])  # not found: grown
    assert same(calls[5], [plate.shifted(0.10, 0).dilated(HOLD_DILATION)])


def test_held_detector_failures_still_stop_the_job(make_clip: MakeClip, tmp_path: Path) -> None:
    from gateway.redaction.detectors.held import HeldDetector

    out = tmp_path / "o.mp4"
    job = RedactionJob(make_clip(frames=30), out)
    with pytest.raises(DetectionError):
        redact_with(job, [HeldDetector(ScriptedDetector(fail_from=2), 2)], DetectionSettings())
    assert not out.exists()


def test_free_dims_let_onnxruntime_take_any_frame_size() -> None:
    import onnxruntime as ort

    from gateway.redaction.detectors.onnx_graph import with_free_dims

    model = bundled_model().read_bytes()
    fixed = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert fixed.get_inputs()[0].shape == [10, 3, 32, 32]  # as shipped: one size only
    freed = with_free_dims(model, {"input.1": [1, 3, "H", "W"], "537": [1, 1, "h", "w"]})
    session = ort.InferenceSession(freed, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, "H", "W"]
    for height, width in ((64, 96), (416, 736)):
        heatmap = session.run(["537"], {"input.1": np.zeros((1, 3, height, width), np.float32)})[0]
        assert heatmap.shape == (1, 1, height // 4, width // 4)


def test_still_detection_frames_reuse_boxes_until_the_picture_changes(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    def porch(index: int, width: int, height: int) -> Frame:
        frame = np.full((height, width, 3), 200, dtype=np.uint8)
        if index >= 20:  # someone steps into a still scene
            frame[150:170, 250:266] = 60
        return frame

    out = tmp_path / "o.mp4"
    detector = ScriptedDetector([Box(0.25, 0.25, 0.5, 0.5)])
    job = RedactionJob(make_clip(frames=31, painter=porch), out)
    report = redact_with(job, [detector], DetectionSettings(every=3, dilation=0.2))
    # frames 0-18: one run, then reuse; 21: the picture changed, run; 24-30: reuse again
    assert detector.calls == 2
    assert report.faces == 11  # reused boxes still count on every detection frame
    for frame in decode_all(out)[0]:
        assert frame[56:124, 74:166].max() < 40  # the boxes cover every frame all the same


def test_unchanged_compares_blocks_not_the_whole_frame() -> None:
    from gateway.redaction.still import unchanged

    rng = np.random.default_rng(5)
    base = rng.integers(50, 200, (416, 736, 3), dtype=np.uint8)
    jitter = (base.astype(np.int16) + rng.integers(-1, 2, base.shape)).astype(np.uint8)
    assert unchanged(base, base, 1.0)
    assert unchanged(base, jitter, 1.0)  # coding noise of one grey level
    small_face = base.copy()
    small_face[200:214, 300:312] = 20  # 12x14 px: a 24 px face at 720p, downscaled
    assert not unchanged(base, small_face, 1.0)
    assert not unchanged(base, base[:, :704], 1.0)


def street_with_plates(
    width: int = 1280, height: int = 720, dx: int = 0
) -> tuple[Frame, list[Box]]:
    """A grey street frame with two white plates, 100 and 150 px wide (moved `dx` px right),
    and their boxes."""
    from PIL import Image, ImageDraw, ImageFont

    frame = Image.new("RGB", (width, height), (95, 95, 100))
    boxes = []
    for text, plate_width, x, y in (("KX 4821", 100, 300, 560), ("ABC 123", 150, 800, 520)):
        x += dx
        plate_height = plate_width * 2 // 9
        draw = ImageDraw.Draw(frame)
        draw.rectangle((x, y, x + plate_width - 1, y + plate_height - 1), fill=(245, 245, 240),
                       outline=(20, 20, 20), width=2)  # fmt: skip
        font = ImageFont.load_default(size=int(plate_height * 0.7))
        draw.text((x + plate_width / 2, y + plate_height / 2), text, fill=(0, 0, 0), font=font,
                  anchor="mm")  # fmt: skip
        boxes.append(Box(x / width, y / height, (x + plate_width) / width,
                         (y + plate_height) / height))  # fmt: skip
    return np.asarray(frame, dtype=np.uint8), boxes


def test_plates_are_searched_on_the_full_frame() -> None:
    # The cascade's window is 60x20 px, too big for small plates on the 736 px detection frame,
    # so the detector reads the full-resolution frame when it is given (as the pipeline does).
    frame, plates = street_with_plates()
    small = np.asarray(cv2.resize(frame, (736, 416), interpolation=cv2.INTER_AREA), np.uint8)
    blank_small, blank = np.full_like(small, 95), np.full_like(frame, 95)
    detector = HaarPlateDetector()
    for found in (detector.detect(blank_small, lambda: frame), detector.detect(small)):
        assert len(found) == len(plates)
        for plate in plates:
            cx, cy = (plate.x0 + plate.x1) / 2, (plate.y0 + plate.y1) / 2
            assert any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in found), plate
    assert detector.detect(small, lambda: blank) == []


def test_a_plate_is_found_again_near_where_it_was() -> None:
    frame, _ = street_with_plates()
    moved, plates = street_with_plates(dx=40)  # the cars moved on
    detector = HaarPlateDetector()
    found = detector.detect(frame)
    assert len(found) == 2
    for before, plate in zip(sorted(found, key=lambda b: b.x0), plates, strict=True):
        again = detector.detect_near(moved, before)
        assert len(again) == 1
        cx, cy = (plate.x0 + plate.x1) / 2, (plate.y0 + plate.y1) / 2
        assert again[0].x0 <= cx <= again[0].x1 and again[0].y0 <= cy <= again[0].y1
        assert detector.detect_near(np.full_like(frame, 95), before) == []


class SeenWhileBright:
    """Finds a face in the middle of bright frames only (the painter below makes the frames
    before `DARK_FROM` bright): a face the detector stops finding at that frame."""

    kind = DetectionKind.FACE

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        return [Box(0.4, 0.4, 0.6, 0.6)] if float(image.mean()) > 128 else []

    def versions(self) -> dict[str, str]:
        return {"scripted": "1"}


DARK_FROM = 60


@pytest.mark.parametrize("lead_in_s", [1.0, 0.0])
def test_a_face_found_before_the_window_is_carried_into_it(
    make_clip: MakeClip, tmp_path: Path, lead_in_s: float
) -> None:
    # As in one pass over the whole clip: the detector stops finding the face as the window
    # starts (where the second of two segment processes starts, say), and it stays covered for
    # `hold` detection frames, carried from the detection frames before the window.
    src = make_clip(
        frames=120,
        painter=lambda i, w, h: np.full((h, w, 3), 200 if i < DARK_FROM else 60, np.uint8),
    )
    job = RedactionJob(src, tmp_path / "out.mp4", start_s=DARK_FROM / 30)
    redact_with(job, [SeenWhileBright()], DetectionSettings(lead_in_s=lead_in_s))
    frames, _ = decode_all(tmp_path / "out.mp4")
    covered = [bool(frame[110:130, 150:170].max() < 30) for frame in frames]  # 320 x 240
    if lead_in_s:
        assert all(covered[:30]) and not any(covered[-20:])  # carried, then let go
    else:  # nothing before the window was looked at: uncovered from its first frame
        assert not any(covered)
