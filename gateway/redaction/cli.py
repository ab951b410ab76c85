"""`redact` sub-command: the CLI edge of the redaction pipeline (wired into safesmart-gateway)."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gateway.config import DEFAULT_TIME_LIMIT
from gateway.redaction.errors import RedactionError
from gateway.redaction.profiles import BUNDLED, Models, Profile
from gateway.redaction.regions import Polygon, validate_polygon

if TYPE_CHECKING:
    from gateway.redaction.pipeline import RedactionJob, RedactionReport

_CLOCK = re.compile(r"^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")


def parse_time(text: str) -> float:
    """Seconds ("12.5") or HH:MM:SS(.fff) ("00:01:02.5") to seconds."""
    match = _CLOCK.match(text.strip())
    try:
        if match:
            hours, minutes, secs = match.groups()
            value = int(hours) * 3600 + int(minutes) * 60 + float(secs)
        else:
            value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use seconds (12.5) or HH:MM:SS(.fff) (00:01:02.5)"
        )
    return value


def parse_polygon(text: str) -> Polygon:
    """'x1,y1 x2,y2 x3,y3 ...' with coordinates as fractions (0..1) of the frame."""
    try:
        points = tuple((float(x), float(y)) for x, y in (pair.split(",") for pair in text.split()))
        return validate_polygon(points)
    except ValueError as exc:
        detail = str(exc) if "mask" in str(exc) else "each corner is x,y with fractions 0..1"
        raise argparse.ArgumentTypeError(f"bad --mask {text!r}: {detail}") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `redact` sub-command; its handler returns the process exit code."""
    parser = subparsers.add_parser(
        "redact",
        help="trim and redact a clip (faces, plates, privacy masks; no audio or metadata)",
        description="Trim a clip to a window and redact it. Nothing is written unless it succeeds.",
    )
    parser.add_argument("input", type=Path, help="the original clip")
    parser.add_argument("output", type=Path, help="where to write the redacted MP4")
    parser.add_argument("--start", type=parse_time, help="window start: seconds or HH:MM:SS")
    parser.add_argument("--end", type=parse_time, help="window end (exclusive)")
    parser.add_argument(
        "--mask",
        type=parse_polygon,
        action="append",
        default=[],
        metavar="POLYGON",
        help='privacy mask "x1,y1 x2,y2 x3,y3 ..." in fractions of the frame; repeatable',
    )
    parser.add_argument("--preview", type=Path, metavar="PNG", help="write a contact sheet")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--fps",
        type=_frame_rate,
        metavar="RATE",
        help="the frame rate of a raw stream without timestamps (MJPEG, H.264 or HEVC), "
        "e.g. 10 or 30000/1001; FFmpeg assumes 25 where the stream states none",
    )
    parser.add_argument(
        "--stall-limit",
        type=_positive_seconds,
        default=DEFAULT_TIME_LIMIT.stall_s,
        metavar="S",
        help="stop with an error after S seconds without progress (a hung model, decoder or "
        f"disk; default {DEFAULT_TIME_LIMIT.stall_s:g}, as the gateway's)",
    )
    add_redaction_options(parser)
    parser.set_defaults(handler=run_redact)


def add_redaction_options(parser: argparse.ArgumentParser) -> None:
    """--profile, and --face-model and --plate-model: files replacing the bundled models (the
    options `redact` and the gateway's `serve` share)."""
    parser.add_argument(
        "--profile",
        choices=[p.value for p in Profile],
        default=Profile.STANDARD.value,
        help="standard: faces, plates and masks; masks-only: the privacy masks alone",
    )
    parser.add_argument(
        "--face-model",
        type=_model_path,
        metavar="ONNX",
        help="a CenterFace-compatible face model file",
    )
    parser.add_argument(
        "--plate-model",
        type=_model_path,
        metavar="XML",
        help="an OpenCV cascade file for licence plates (Haar or LBP), e.g. for your country's",
    )


def _model_path(text: str) -> Path:
    """Absolute, with ~ expanded: a service manager passes the option without a shell."""
    return Path(text).expanduser().absolute()


def models_from(args: argparse.Namespace) -> Models:
    """The model files named by `add_redaction_options`' options."""
    return Models(face=args.face_model, plates=args.plate_model)


def _positive_seconds(text: str) -> float:
    value = parse_time(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time longer than zero")
    return value


def _frame_rate(text: str) -> Fraction:
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a frame rate (frames a second, such as 10 or 30000/1001)"
        ) from None


def run_redact(args: argparse.Namespace) -> int:
    """Run one job from parsed arguments; 0 on success, 1 with a message on failure."""
    # Loaded here, not at the top: NumPy, OpenCV, PyAV and onnxruntime take a third of a second
    # that the gateway's other commands need not pay.
    from gateway.redaction.pipeline import RedactionJob, check_models

    job = RedactionJob(
        input=args.input,
        output=args.output,
        start_s=args.start,
        end_s=args.end,
        masks=tuple(args.mask),
        profile=args.profile,
        preview=args.preview,
        models=models_from(args),
        fps=args.fps,
    )
    # Stopped by `kill` or `timeout` (SIGTERM), it cleans up as on Ctrl-C: no partial files.
    signal.signal(signal.SIGTERM, _terminated)
    with _progress_bar() as progress:
        try:
            if job.profile == Profile.MASKS_ONLY and job.models != BUNDLED:
                check_models(job.models)  # refused under every profile, as `serve` does
            report = _redact_watched(job, progress, args.stall_limit)
        except RedactionError as exc:
            print(f"redact: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print(
            f"redacted {report.frames} frames ({report.duration_s:.2f} s, "
            f"{report.width}x{report.height}) at {report.fps:.1f} frames/s; "
            f"faces {report.faces}, plates {report.plates}; sha256 {report.output_sha256}"
        )
    return 0


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


BACKSTOP_S = 10.0  # faulthandler's watchdog ends a hang this much later than the stall limit
TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _redact_watched(
    job: RedactionJob, progress: Callable[[float], None] | None, stall_s: float
) -> RedactionReport:
    """`redact(job)`, stopped with a reason after `stall_s` without progress: a model, decoder or
    disk stuck in C code, which neither Ctrl-C nor SIGTERM reaches, would hold the command for
    ever. A thread of this process watches the job (`_stop_when_stalled`). The segment
    processes carry faulthandler's watchdog (`watchdog.py`), BACKSTOP_S later; so does this
    process, for a hang that holds the GIL, where the thread cannot run."""
    from gateway.redaction.pipeline import redact
    from gateway.watchdog import Watch, run_watched

    # Ended by `_stop_when_stalled` while a segment process runs, this process leaves its
    # process pool's semaphores to multiprocessing's resource tracker, which removes them and
    # prints a warning under the message. The tracker, started with the first pool, inherits
    # this filter.
    filters = os.environ.get("PYTHONWARNINGS", "")
    if TRACKER_QUIET not in filters:
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [filters, TRACKER_QUIET]))
    with tempfile.TemporaryDirectory(prefix="safesmart-redact-") as folder:
        stacks = Path(folder) / "stacks"  # where a watchdog writes the stacks of a hung process
        done = threading.Event()
        guard = threading.Thread(
            target=_stop_when_stalled, args=(job, stall_s, done, folder), daemon=True
        )
        guard.start()
        try:
            return run_watched(Watch(stacks, stall_s + BACKSTOP_S, math.inf), redact, job, progress)
        except BrokenProcessPool as exc:
            if stacks.stat().st_size:  # a segment process's watchdog ended it
                raise RedactionError(_stalled(stall_s)) from exc
            raise RedactionError(
                "A segment process stopped (it ran out of memory or was killed); "
                "nothing was written."
            ) from exc
        finally:
            done.set()
            guard.join()


def _stop_when_stalled(
    job: RedactionJob, stall_s: float, done: threading.Event, folder: str
) -> None:
    """End this process with a reason, and without the job's partial files, once the job has
    gone `stall_s` without progress (the process's threads cannot be stopped otherwise)."""
    from gateway.redaction.pipeline import remove_partial_files
    from gateway.watchdog import quiet_s

    while not done.wait(min(1.0, stall_s / 4)):
        quiet = quiet_s()
        if quiet is not None and quiet >= stall_s:
            remove_partial_files(job)
            shutil.rmtree(folder, ignore_errors=True)
            off_the_bar = "\n" if sys.stderr.isatty() else ""
            print(f"{off_the_bar}redact: {_stalled(stall_s)}", file=sys.stderr, flush=True)
            os._exit(1)


def _stalled(stall_s: float) -> str:
    return (
        f"The redaction made no progress for {stall_s:g} s (a detector, the decoder or the disk "
        "hung) and was stopped; nothing was written."
    )


@contextmanager
def _progress_bar() -> Iterator[Callable[[float], None] | None]:
    """A tqdm bar on stderr when it is a terminal; otherwise no output at all."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=1000, unit="‰", file=sys.stderr, leave=False) as bar:

        def update(fraction: float) -> None:
            bar.update(round(fraction * 1000) - bar.n)

        yield update
