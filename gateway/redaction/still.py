"""Detection frames that show the same picture as the last detected one reuse its boxes.

Doorbell footage is mostly a still porch: H.264 copies unchanged blocks exactly, so a detection
frame often matches the last detected frame pixel for pixel. The comparison is against the last
frame the detectors actually ran on (never a chain of small changes), block by block, so a face
entering anywhere changes some block far beyond the limit.
"""

import cv2
import numpy as np

from gateway.redaction.detectors.base import RgbImage

BLOCK = 16  # pixels of the detection frame (about 28 px of a 720p frame)


def unchanged(reference: RgbImage, image: RgbImage, limit: float) -> bool:
    """True when no BLOCK x BLOCK block's mean absolute change exceeds `limit` grey levels in
    any colour channel."""
    if reference.shape != image.shape:
        return False
    change = cv2.absdiff(reference, image).astype(np.float32)
    height, width = change.shape[:2]
    blocks = cv2.resize(
        change, (max(1, width // BLOCK), max(1, height // BLOCK)), interpolation=cv2.INTER_AREA
    )
    return float(blocks.max()) <= limit
