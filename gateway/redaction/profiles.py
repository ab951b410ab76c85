"""Redaction profiles and the detection settings chosen by the benchmark (bench/redaction)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.redaction.detectors.base import Detector


class Profile(StrEnum):
    """What a job obscures besides the privacy masks."""

    STANDARD = "standard"  # faces + licence plates + masks
    MASKS_ONLY = "masks-only"  # no detectors: fast, for tests of the rest of the system


@dataclass(frozen=True)
class Models:
    """Model files a resident supplies in place of the bundled ones (None: the bundled one)."""

    face: Path | None = None  # a CenterFace-compatible ONNX file
    plates: Path | None = None  # an OpenCV cascade (Haar or LBP XML), e.g. for another country


BUNDLED = Models()


@dataclass(frozen=True)
class DetectionSettings:
    """How often and at what size detection runs; defaults measured in docs/benchmarks.md."""

    every: int = 5  # detect on every Nth frame; the others use neighbours' boxes and hulls
    # A window that starts inside the clip (a resident's window, or the second of two segment
    # processes) is detected on from this much earlier, without writing those frames: a face
    # the detectors miss on the window's first detection frames is then carried into it from
    # before, as in one pass over the whole clip (a second: `hold` detection frames).
    lead_in_s: float = 1.0
    # Grow each box by this share (half on each side): CenterFace boxes the inner face, and the
    # whole head, plus motion between detection frames, must stay covered.
    dilation: float = 0.5
    # ... and by at least this share of the frame's width on each side (13 px at 720p): a small
    # face moves as far between detection frames as a large one.
    margin: float = 0.01
    # A box not found again on the next detection frame is carried on (moved by its last step)
    # for up to this many detection frames (a second at 30 fps): a small face that compressed
    # grain hides from the detector for several detection frames in a row stays covered.
    hold: int = 6
    width: int = 736  # detection frame width (height follows the aspect ratio, rounded to 32)
    # A detection frame whose 16 px blocks all changed less than this (mean grey levels) since
    # the last frame detected reuses its boxes; None always runs the detectors.
    still_limit: float | None = 1.0
    timeout_s: float = 10.0  # a detector slower than this on one frame stops the job
    face_threshold: float = 0.3  # a CenterFace score accepted without a second look
    # Weaker peaks, down to this score, get a second look on a full-resolution crop and are kept
    # when CenterFace scores them at least face_verify_threshold there: small faces gain, and
    # face-like noise on dark, grainy walls and lawns is turned down. None: no second look.
    face_candidate_threshold: float | None = 0.02
    face_verify_threshold: float = 0.3
    # The face model's first pass and the plate cascade look again only where the picture
    # changed since they last looked there, keeping what they found elsewhere (still.Changes);
    # False: the whole frame every time.
    changed_regions: bool = True
    # A box found with no match on the previous detection frame is looked for there by its
    # picture (look_back.py), so the frames before it are covered along its path; found there,
    # on the detection frame before that, and so on, up to this many detection frames back (as
    # far as the plate cascade's last run). Frames are held until it cannot change their cover
    # any more: (reach + 1) x every + 1 at most.
    look_back: bool = True
    look_back_reach: int = 3
    # A box about to be carried on is first looked for near where it is expected, within this
    # many of its sides, by its detector on the full-resolution frame (a face: a crop enlarged
    # as a second look's); found, it stands in for the carried box. None: carried as it is.
    look_near: float | None = 1.0
    # The plate cascade runs on one detection frame in this many (its boxes are held, grown, in
    # between): it costs twice the face model, and plates move slowly in doorbell footage.
    plate_hold: int = 3
    threads: int = 1  # onnxruntime threads per process; parallelism comes from segments
    workers: int = 2  # segment processes for clips long enough to split (see segments.py)

    def detection_size(self, width: int, height: int) -> tuple[int, int]:
        """Downscaled size with both sides multiples of 32 (CenterFace's stride)."""
        target = min(self.width, width)
        scaled_height = height * target / width
        return max(32, round(target / 32) * 32), max(32, -(-int(scaled_height) // 32) * 32)


def build_detectors(
    profile: Profile, models: Models = BUNDLED, settings: DetectionSettings | None = None
) -> list[Detector]:
    """The detectors a profile runs (none for masks-only)."""
    if profile is Profile.MASKS_ONLY:
        return []
    # Imported here: `safesmart-gateway` reads the profile names without loading onnxruntime.
    from gateway.redaction.detectors.centerface import CenterFaceDetector
    from gateway.redaction.detectors.held import HeldDetector
    from gateway.redaction.detectors.plates import HaarPlateDetector

    chosen = settings or DetectionSettings()
    faces = CenterFaceDetector(
        models.face,
        chosen.face_threshold,
        chosen.threads,
        chosen.face_candidate_threshold,
        chosen.face_verify_threshold,
        chosen.changed_regions,
    )
    plates = HaarPlateDetector(models.plates, regions=chosen.changed_regions)
    return [faces, HeldDetector(plates, hold=chosen.plate_hold)]
