"""The redaction pipeline: trim, obscure faces, plates and masks, strip audio and metadata."""

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from gateway.redaction.contact_sheet import ContactSheet
from gateway.redaction.cover_plan import CoverPlanner
from gateway.redaction.detectors.base import DetectionKind, Detector, RgbImage
from gateway.redaction.errors import DetectionError, RedactionError, timecode
from gateway.redaction.obscure import PlaneMask, YuvArray, fill_boxes, fill_mask
from gateway.redaction.profiles import DetectionSettings, Profile, build_detectors
from gateway.redaction.regions import Box, Polygon, rasterise_masks, validate_polygon
from gateway.redaction.video_input import ClipInfo, ClipReader, DecodedFrame, seconds
from gateway.redaction.video_output import ClipWriter

__all__ = ["Polygon", "RedactionError", "RedactionJob", "RedactionReport", "redact"]

Progress = Callable[[float], None]


@dataclass(frozen=True)
class RedactionJob:
    """One clip to redact: where from, where to, which window, which masks and profile."""

    input: Path
    output: Path
    start_s: float | None = None  # offsets in seconds from the clip's first frame
    end_s: float | None = None
    masks: tuple[Polygon, ...] = ()
    profile: str = "standard"  # "standard" = faces + plates + masks; "masks-only" = no detectors
    preview: Path | None = None  # contact-sheet PNG of redacted frames
    face_model: Path | None = None  # a CenterFace-compatible ONNX file replacing the bundled one


@dataclass(frozen=True)
class RedactionReport:
    """What was done, for the manifest and the resident: counts, hashes and tool versions."""

    frames: int
    duration_s: float
    fps: float  # frames processed per wall-clock second
    faces: int  # face detections on detection frames
    plates: int
    profile: str
    input_sha256: str
    output_sha256: str
    width: int
    height: int
    tools: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (all values are plain str, int, float or dict)."""
        return asdict(self)


def redact(job: RedactionJob, progress: Progress | None = None) -> RedactionReport:
    """Redact `job.input` into `job.output`; on any error nothing is left at the output path."""
    profile = _check_job(job)
    return redact_with(job, build_detectors(profile, job.face_model), DetectionSettings(), progress)


def redact_with(
    job: RedactionJob,
    detectors: Sequence[Detector],
    settings: DetectionSettings,
    progress: Progress | None = None,
) -> RedactionReport:
    """`redact` with the detectors and settings given (tests inject failing detectors here)."""
    _check_job(job)
    started = time.perf_counter()
    with ClipReader(job.input) as reader:
        run = _Run(job, reader.info, detectors, settings, progress)
        with ClipWriter(job.output, *run.size, reader.info.rate, reader.info.time_base) as writer:
            run.writer = writer
            for decoded in reader.frames(job.start_s, job.end_s):
                run.push(decoded)
            run.finish()
            if writer.frames == 0:
                raise RedactionError("The requested window contains no video frames.")
            writer.commit()
            encoder = writer.encoder_version
    if job.preview is not None:
        try:
            run.sheet.save(job.preview)
        except OSError as exc:
            job.output.unlink(missing_ok=True)
            raise RedactionError(
                "The preview picture could not be written; check disk space."
            ) from exc
    elapsed = max(time.perf_counter() - started, 1e-9)
    tools = {"pyav": av.__version__, "ffmpeg": _ffmpeg_version(), "encoder": encoder}
    for detector in detectors:
        tools.update(detector.versions())
    return RedactionReport(
        frames=run.frames,
        duration_s=round(float(run.duration), 6),
        fps=round(run.frames / elapsed, 2),
        faces=run.counts[DetectionKind.FACE],
        plates=run.counts[DetectionKind.PLATE],
        profile=job.profile,
        input_sha256=_sha256(job.input),
        output_sha256=_sha256(job.output),
        width=run.size[0],
        height=run.size[1],
        tools=tools,
    )


class _Run:
    """The state of one job: masks, detection schedule, contact sheet and counters."""

    writer: ClipWriter

    def __init__(
        self,
        job: RedactionJob,
        info: ClipInfo,
        detectors: Sequence[Detector],
        settings: DetectionSettings,
        progress: Progress | None,
    ) -> None:
        self.size = info.even_size
        self.detectors = detectors
        self.settings = settings
        self.progress = progress
        mask = rasterise_masks(job.masks, *self.size)
        self.mask = None if mask is None else PlaneMask.from_mask(mask)
        start = seconds(job.start_s) or Fraction(0)
        end = seconds(job.end_s)
        if end is None and info.declared_duration_s is not None:
            end = Fraction(info.declared_duration_s)
        self.expected_frames = max(1, int((end - start) * info.rate)) if end is not None else 0
        self.sheet = ContactSheet(float(end - start) if end is not None else None)
        every = settings.every if detectors else 1
        self.planner = CoverPlanner[DecodedFrame](self._detect, every, settings.dilation)
        self.counts = dict.fromkeys(DetectionKind, 0)
        self.frames = 0
        self.first_pts: int | None = None
        self.duration = Fraction(0)
        self.frame_step = 1 / info.rate if info.rate else Fraction(1, 30)
        self.time_base = info.time_base

    def push(self, decoded: DecodedFrame) -> None:
        for ready, boxes in self.planner.push(decoded):
            self._emit(ready, boxes)

    def finish(self) -> None:
        for ready, boxes in self.planner.finish():
            self._emit(ready, boxes)
        if self.progress is not None:
            self.progress(1.0)

    def _detect(self, decoded: DecodedFrame) -> tuple[Box, ...]:
        if not self.detectors:
            return ()
        width, height = self.settings.detection_size(*self.size)
        rgb = decoded.frame.reformat(width=width, height=height, format="rgb24")
        image: RgbImage = np.asarray(rgb.to_ndarray(), dtype=np.uint8)
        found: list[Box] = []
        for detector in self.detectors:
            began = time.perf_counter()
            try:
                boxes = list(detector.detect(image))
            except Exception as exc:
                raise DetectionError(
                    f"The {detector.kind} detector failed at {_clock(decoded.offset_s)}; "
                    "nothing was written. Try again, or use a different detector model."
                ) from exc
            if time.perf_counter() - began > self.settings.timeout_s:
                raise DetectionError(
                    f"The {detector.kind} detector took over {self.settings.timeout_s:.0f} s "
                    f"on the frame at {_clock(decoded.offset_s)}; nothing was written."
                )
            self.counts[detector.kind] += len(boxes)
            found.extend(boxes)
        return tuple(found)

    def _emit(self, decoded: DecodedFrame, boxes: tuple[Box, ...]) -> None:
        width, height = self.size
        yuv = decoded.frame.reformat(width=width, height=height, format="yuv420p")
        frame: YuvArray = np.asarray(yuv.to_ndarray(), dtype=np.uint8)
        if self.mask is not None:
            fill_mask(frame, width, height, self.mask)
        fill_boxes(frame, width, height, boxes)
        if self.first_pts is None:
            self.first_pts = decoded.pts
        pts = decoded.pts - self.first_pts
        self.writer.write(frame, pts)
        offset = pts * self.time_base
        self.duration = offset + self.frame_step
        self.sheet.offer(float(offset), frame, width, height)
        self.frames += 1
        if self.progress is not None and self.expected_frames:
            self.progress(min(0.999, self.frames / self.expected_frames))


def _check_job(job: RedactionJob) -> Profile:
    try:
        profile = Profile(job.profile)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise RedactionError(
            f"Unknown redaction profile {job.profile!r}; use one of: {names}."
        ) from None
    for value in (job.start_s, job.end_s):
        if value is not None and (value != value or value < 0):
            raise RedactionError("Start and end times must be zero or positive numbers of seconds.")
    if job.start_s is not None and job.end_s is not None and job.end_s <= job.start_s:
        raise RedactionError("The end of the window must come after its start.")
    for polygon in job.masks:
        try:
            validate_polygon(polygon)
        except ValueError as exc:
            raise RedactionError(f"Bad privacy mask: {exc}.") from None
    if job.output.resolve() == job.input.resolve():
        raise RedactionError("The output must be a different file from the input clip.")
    if not job.output.parent.is_dir():
        raise RedactionError("The folder for the redacted clip does not exist.")
    return profile


def _clock(offset: Fraction) -> str:
    return timecode(float(offset))


def _ffmpeg_version() -> str:
    major, minor, micro = av.library_versions["libavcodec"]
    return f"libavcodec {major}.{minor}.{micro}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
