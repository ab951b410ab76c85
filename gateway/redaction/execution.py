"""One redaction pass over one window of a clip in this process: decode, detect, obscure, encode."""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Self

from gateway.redaction.contact_sheet import ContactSheet, Thumbnail
from gateway.redaction.cover_plan import CoverPlanner
from gateway.redaction.decoded import DecodedFrame, plane_views
from gateway.redaction.detectors.base import (
    DetectionKind,
    Detector,
    Refinding,
    RgbImage,
    run_detector,
)
from gateway.redaction.errors import RedactionError, timecode
from gateway.redaction.look_back import look_back
from gateway.redaction.obscure import PlaneMask, fill_boxes, fill_mask, rasterise_masks
from gateway.redaction.profiles import DetectionSettings
from gateway.redaction.regions import Box, Polygon, nearest
from gateway.redaction.still import unchanged
from gateway.redaction.video_input import ClipInfo, ClipReader, seconds
from gateway.redaction.video_output import ClipWriter

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Window:
    """What to redact: the input, the output, the window and the privacy masks; `preview`: keep
    thumbnails for a contact sheet; `fps`: the frame rate of a raw stream without timestamps."""

    input_path: Path
    output: Path
    start_s: float | None
    end_s: float | None
    masks: tuple[Polygon, ...]
    preview: bool = False
    fps: Fraction | None = None


class EmptyWindowError(RedactionError):
    """The window holds no video frames: refused as a job; as a segment of one, it fell in a gap
    between a clip's frames (`segments.py` leaves it out of the join)."""

    def __init__(self, message: str = "The requested window contains no video frames.") -> None:
        super().__init__(message)

    @classmethod
    def past_the_end(cls, start_s: float | None, length_s: float | None) -> Self:
        """The error for an empty window, saying so when it starts after the clip's end."""
        if start_s is None or length_s is None or start_s < length_s:
            return cls()
        return cls(
            f"The requested window starts {start_s:g} s into the clip, but the clip is "
            f"{length_s:g} s long: the window contains no video frames."
        )


@dataclass(frozen=True)
class Outcome:
    """What one pass did; picklable, so segment worker processes can return it."""

    frames: int
    duration_s: float
    first_offset_s: float  # offset of the first output frame from the clip's first frame
    faces: int
    plates: int
    width: int
    height: int
    encoder: str
    thumbnails: tuple[Thumbnail, ...]  # for the contact sheet (`contact_sheet.pick`)
    versions: dict[str, str]  # detector and model identities, for the report


def execute(
    window: Window,
    detectors: Sequence[Detector],
    settings: DetectionSettings,
    progress: Progress | None = None,
) -> Outcome:
    """Redact one window into `window.output`; the file exists only if this returns."""
    with ClipReader(window.input_path, window.fps) as reader:
        info = reader.info
        run = _Run(window, info, detectors, settings, progress)
        with ClipWriter(
            window.output, *run.size, info.rate, info.time_base, info.pixel_aspect, info.colour
        ) as writer:
            run.writer = writer
            start = window.start_s
            if detectors and start is not None:
                start = max(0.0, start - settings.lead_in_s)  # frames `_emit` does not write
            for decoded in reader.frames(start, window.end_s):
                run.push(decoded)
            run.finish()
            if writer.frames == 0:
                raise EmptyWindowError.past_the_end(window.start_s, info.declared_duration_s)
            writer.commit()
            return Outcome(
                frames=run.frames,
                duration_s=float(run.duration),
                first_offset_s=float(run.first_offset),
                faces=run.counts[DetectionKind.FACE],
                plates=run.counts[DetectionKind.PLATE],
                width=run.size[0],
                height=run.size[1],
                encoder=writer.encoder_version,
                thumbnails=() if run.sheet is None else tuple(run.sheet.thumbnails),
                versions=_versions(detectors),
            )


class _Run:
    """The state of one pass: masks, detection schedule, contact sheet and counters."""

    writer: ClipWriter

    def __init__(
        self,
        window: Window,
        info: ClipInfo,
        detectors: Sequence[Detector],
        settings: DetectionSettings,
        progress: Progress | None,
    ) -> None:
        self.size = info.even_size
        self.detectors = detectors
        # The detector of each kind that can look near a box on the full-resolution frame.
        self.refinding = {d.kind.value: d for d in detectors if isinstance(d, Refinding)}
        self.settings = settings
        self.progress = progress
        mask = rasterise_masks(window.masks, *self.size)
        self.mask = None if mask is None else PlaneMask.from_mask(mask)
        self.start = seconds(window.start_s)
        start = self.start or Fraction(0)
        end = seconds(window.end_s)
        if end is None and info.declared_duration_s is not None:
            end = Fraction(info.declared_duration_s)
        self.expected_frames = max(1, int((end - start) * info.rate)) if end is not None else 0
        self.sheet = ContactSheet(float(info.pixel_aspect)) if window.preview else None
        every = settings.every if detectors else 1
        margin = (settings.margin, settings.margin * self.size[0] / self.size[1])
        look = self._look_back if detectors and settings.look_back else None
        near = None
        if detectors and settings.look_near is not None:
            near = functools.partial(self._look_near, settings.look_near)
        self.planner = CoverPlanner[DecodedFrame](
            self._detect,
            every,
            settings.dilation,
            settings.hold,
            margin,
            look,
            reach=settings.look_back_reach,
            look_near=near,
        )
        self.counts = dict.fromkeys(DetectionKind, 0)
        # The last frame the detectors ran on, with what they found (see still.py).
        self.still: tuple[RgbImage, tuple[Box, ...], dict[DetectionKind, int]] | None = None
        self.frames = 0
        self.first_pts: int | None = None
        self.first_offset = Fraction(0)
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
        image: RgbImage = decoded.rgb(width, height)
        limit = self.settings.still_limit
        if self.still is not None and limit is not None and unchanged(self.still[0], image, limit):
            for kind, count in self.still[2].items():
                self.counts[kind] += count
            return self.still[1]
        found: list[Box] = []
        counts = dict.fromkeys(DetectionKind, 0)
        for detector in self.detectors:
            boxes = self._call(detector, decoded, detector.detect, image, decoded.full_rgb)
            self.counts[detector.kind] += len(boxes)
            counts[detector.kind] += len(boxes)
            found.extend(replace(box, kind=detector.kind.value) for box in boxes)
        self.still = (image, tuple(found), counts)
        return self.still[1]

    def _look_back(self, later: DecodedFrame, earlier: DecodedFrame, boxes: list[Box]) -> list[Box]:
        """Where boxes found on `later` with no match on `earlier` were on it: by their picture,
        else what their detector finds near them there at full resolution (cover_plan.py)."""
        places = look_back(later.luma(), earlier.luma(), boxes)
        found = [place for place in places if place is not None]
        missed = [box for box, place in zip(boxes, places, strict=True) if place is None]
        for box in missed:
            found.extend(self._near(earlier, box))
        return found

    def _look_near(
        self, reach: float, decoded: DecodedFrame, carried: list[Box]
    ) -> list[Box | None]:
        """Each box carried on to this detection frame as its detector finds it within `reach`
        of its sides of where it is expected, at full resolution, or None (cover_plan.py)."""
        return [nearest(box, self._near(decoded, box, reach), reach) for box in carried]

    def _near(self, decoded: DecodedFrame, box: Box, reach: float | None = None) -> list[Box]:
        """What `box`'s own detector finds near it on the frame at full resolution (nothing when
        it cannot look near)."""
        detector = self.refinding.get(box.kind)
        if detector is None:
            return []
        near = self._call(detector, decoded, detector.detect_near, decoded.full_rgb(), box, reach)
        return [replace(place, kind=box.kind) for place in near]

    def _call[**P](
        self,
        detector: Detector,
        decoded: DecodedFrame,
        find: Callable[P, Sequence[Box]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> list[Box]:
        """`find(*args)`, a call of `detector` on `decoded`'s frame (`run_detector`)."""
        where = f"on the frame at {_clock(decoded.offset_s)}"
        call = functools.partial(find, *args, **kwargs)
        return run_detector(detector.kind, call, where, self.settings.timeout_s)

    def _emit(self, decoded: DecodedFrame, boxes: tuple[Box, ...]) -> None:
        if self.start is not None and decoded.offset_s < self.start:
            return  # the lead-in, detected on but before the window
        frame = decoded.output_frame(*self.size)
        yuv = plane_views(frame)
        if self.mask is not None:
            fill_mask(yuv, self.mask)
        fill_boxes(yuv, boxes)
        if self.first_pts is None:
            self.first_pts = decoded.pts
            self.first_offset = decoded.offset_s
        pts = decoded.pts - self.first_pts
        self.writer.write(frame, pts)
        offset = pts * self.time_base
        self.duration = offset + self.frame_step
        if self.sheet is not None:
            self.sheet.offer(float(offset), yuv)
        self.frames += 1
        if self.progress is not None and self.expected_frames:
            self.progress(min(0.999, self.frames / self.expected_frames))


def _clock(offset: Fraction) -> str:
    return timecode(float(offset))


def _versions(detectors: Sequence[Detector]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for detector in detectors:
        versions.update(detector.versions())
    return versions
