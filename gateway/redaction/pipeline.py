"""The redaction pipeline: trim, obscure faces, plates and masks, strip audio and metadata."""

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from gateway.redaction.contact_sheet import pick, save_contact_sheet
from gateway.redaction.detectors.base import Detector
from gateway.redaction.errors import InputError, RedactionError
from gateway.redaction.execution import Outcome, Window, execute
from gateway.redaction.picture import is_picture, redact_picture
from gateway.redaction.profiles import (
    BUNDLED,
    DetectionSettings,
    Models,
    Profile,
    build_detectors,
)
from gateway.redaction.regions import Polygon, validate_polygon
from gateway.redaction.segments import plan_segments, run_segments
from gateway.redaction.video_input import check_frame_rate
from gateway.redaction.video_output import remove_partials, temp_path_for
from gateway.watchdog import alive

__all__ = ["Polygon", "RedactionError", "RedactionJob", "RedactionReport", "redact"]

Progress = Callable[[float], None]
MAX_TIME_S = 1e9  # past this, a time no longer fits FFmpeg's seek (1e15 s overflowed it)


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
    models: Models = BUNDLED  # model files replacing the bundled ones
    fps: Fraction | None = None  # the frame rate of a raw stream, which carries no timestamps


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
    settings = DetectionSettings()
    started = time.perf_counter()
    with _file_errors():
        if is_picture(job.input):  # a Nest event image or a snapshot: one frame, written as PNG
            detectors = build_detectors(profile, job.models, settings)
            outcome = redact_picture(job.input, job.output, job.masks, detectors, settings)
            return _finish(job, outcome, started)
        lead_in_s = settings.lead_in_s if profile is not Profile.MASKS_ONLY else 0.0
        windows = plan_segments(_window(job), settings.workers, lead_in_s)
        if len(windows) > 1:
            outcome = run_segments(windows, job.output, profile, job.models, settings, progress)
        else:
            detectors = build_detectors(profile, job.models, settings)
            outcome = execute(_window(job), detectors, settings, progress)
        return _finish(job, outcome, started)


def check_models(models: Models) -> None:
    """Load the detectors with these model files (RedactionError if one is missing or not a
    model), so the gateway refuses them when it starts, not on a request; also under a profile
    that does not use them, so that changing the profile later brings no surprise."""
    build_detectors(Profile.STANDARD, models)


def remove_leftovers(job: RedactionJob) -> None:
    """Delete what a redaction killed mid-job (by its time limit or the kernel) left behind,
    where `redact` had no chance to: its partial files, and the clip it may have been hashing."""
    remove_partial_files(job)
    job.output.unlink(missing_ok=True)


def remove_partial_files(job: RedactionJob) -> None:
    """Delete the hidden partial files of a redaction stopped mid-job: its clip's (the
    encoder's and the segments') and its contact sheet's."""
    for target in (job.output, job.preview):
        if target is not None:
            remove_partials(target)


def redact_with(
    job: RedactionJob,
    detectors: Sequence[Detector],
    settings: DetectionSettings,
    progress: Progress | None = None,
) -> RedactionReport:
    """`redact` in one process with the detectors given (tests inject failing detectors here)."""
    _check_job(job)
    started = time.perf_counter()
    with _file_errors():
        if is_picture(job.input):
            outcome = redact_picture(job.input, job.output, job.masks, detectors, settings)
        else:
            outcome = execute(_window(job), detectors, settings, progress)
        return _finish(job, outcome, started)


def _window(job: RedactionJob) -> Window:
    preview = job.preview is not None
    return Window(job.input, job.output, job.start_s, job.end_s, job.masks, preview, job.fps)


def _finish(job: RedactionJob, outcome: Outcome, started: float) -> RedactionReport:
    """The preview and the report of a clip written to `job.output`; if either fails, the clip
    and the preview are deleted."""
    written = [job.output]
    try:
        if job.preview is not None:
            save_contact_sheet(pick(outcome.thumbnails, outcome.frames), job.preview)
            written.append(job.preview)
        return _report(job, outcome, started)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


@contextmanager
def _file_errors() -> Iterator[None]:
    """A file that could not be read or written (a full disk, a folder made read-only) stops
    the job with a RedactionError saying why, in words, without the file's path."""
    try:
        yield
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".").lower()
        raise RedactionError(f"The redaction stopped on a file error: {reason}.") from exc


def _report(job: RedactionJob, outcome: Outcome, started: float) -> RedactionReport:
    elapsed = max(time.perf_counter() - started, 1e-9)
    tools = {"pyav": av.__version__, "ffmpeg": _ffmpeg_version(), "encoder": outcome.encoder}
    return RedactionReport(
        frames=outcome.frames,
        duration_s=round(outcome.duration_s, 6),
        fps=round(outcome.frames / elapsed, 2),
        faces=outcome.faces,
        plates=outcome.plates,
        profile=job.profile,
        input_sha256=file_sha256(job.input),
        output_sha256=file_sha256(job.output),
        width=outcome.width,
        height=outcome.height,
        tools=tools | outcome.versions,
    )


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
        if value is not None and value > MAX_TIME_S:
            raise RedactionError("Start and end times must be at most 10^9 s (31 years) in.")
    if job.start_s is not None and job.end_s is not None and job.end_s <= job.start_s:
        raise RedactionError("The end of the window must come after its start.")
    for polygon in job.masks:
        try:
            validate_polygon(polygon)
        except ValueError as exc:
            raise RedactionError(f"Bad privacy mask: {exc}.") from None
    if job.fps is not None:
        try:
            check_frame_rate(job.fps)
        except ValueError as exc:
            raise RedactionError(str(exc)) from None
    _check_paths(job)
    if job.fps is not None and is_picture(job.input):
        raise InputError(
            "The input is a still picture; a frame rate can be given only for a raw stream, "
            "which has no timestamps (MJPEG, H.264 or HEVC)."
        )
    return profile


def _check_paths(job: RedactionJob) -> None:
    """Refuse at once the paths that could only fail later, or overwrite what they must not."""
    if job.input.is_file() and not os.access(job.input, os.R_OK):
        raise RedactionError("The input clip cannot be read (permission denied).")
    clips = (job.input.resolve(), job.output.resolve())
    if clips[0] == clips[1]:
        raise RedactionError("The output must be a different file from the input clip.")
    if job.preview is not None and job.preview.resolve() in clips:
        raise RedactionError("The preview must be a different file from the input and the output.")
    for what, path in (("redacted clip", job.output), ("preview", job.preview)):
        if path is None:
            continue
        if not path.name or path.is_dir():
            raise RedactionError(f"The {what} must be a file name, not a folder.")
        if path.exists() and not path.is_file():  # the file would replace it
            raise RedactionError(
                f"The {what} must be a file name, not a device, a pipe or a socket."
            )
        if not path.parent.is_dir():
            raise RedactionError(f"The folder for the {what} does not exist.")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise RedactionError(f"The folder for the {what} cannot be written to.")
        if len(os.fsencode(temp_path_for(path).name)) > _longest_name(path.parent):
            raise RedactionError(f"The {what}'s file name is too long.")


def _longest_name(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _ffmpeg_version() -> str:
    major, minor, micro = av.library_versions["libavcodec"]
    return f"libavcodec {major}.{minor}.{micro}"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read a MiB at a time (clips can be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            alive()
    return digest.hexdigest()
