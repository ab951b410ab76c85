"""Parallel segments: split a long window in two, redact each half in its own process, then join
the halves without re-encoding. Two processes beat one threaded process on a 2-core machine
because detection, Python and the encoder each leave a core idle part of the time.
"""

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import av.container
import cv2

from gateway.redaction.errors import RedactionError
from gateway.redaction.execution import EmptyWindowError, Outcome, Window, execute
from gateway.redaction.profiles import DetectionSettings, Models, Profile, build_detectors
from gateway.redaction.video_input import ClipReader
from gateway.redaction.video_output import MUXER_OPTIONS, remove_partials, temp_path_for

from ..watchdog import Watch, alive, current, result, run_watched
from ..workers import guarded_fork_server, kill_workers, worker_pool

MIN_SEGMENT_S = 3.0  # below this a second process costs more (start-up, model load) than it saves

# Starts the workers of every job in this process, and so the fork server on the first. One
# thread for the process's life: forkserver_guard's PR_SET_PDEATHSIG ends the server when the
# thread that started it ends, and a thread per job had every job wait for a new server
# (0.23-0.30 s to its worker's start, against 0.02-0.10 s from a running one).
_starter = ThreadPoolExecutor(1, thread_name_prefix="segment-starter")


def plan_segments(window: Window, workers: int, lead_in_s: float = 0.0) -> list[Window]:
    """The windows to run: one unless the clip is long enough and there are spare cores.

    Each window after the first is detected on from `lead_in_s` before its start; the splits
    move half that later, so that the windows still take about as long as each other."""
    workers = min(workers, os.cpu_count() or 1)
    if workers < 2:
        return [window]
    with ClipReader(window.input_path, window.fps) as reader:
        declared = reader.info.declared_duration_s
    start = window.start_s or 0.0
    end = window.end_s if window.end_s is not None else declared
    if end is None or declared is None or end - start < workers * MIN_SEGMENT_S:
        return [window]
    end = min(end, declared)
    inner = [start + (end - start) * i / workers + lead_in_s / 2 for i in range(1, workers)]
    # The first window keeps the job's start and the last its end (None: to the end of the clip).
    bounds: list[float | None] = [window.start_s, *inner, window.end_s]
    return [
        replace(window, start_s=bounds[i], end_s=bounds[i + 1], output=temp_path_for(window.output))
        for i in range(workers)
    ]


def _context() -> multiprocessing.context.BaseContext:
    """A fork server that has imported the pipeline but never run it, so each worker starts in
    milliseconds and inherits no thread pools (forking a process that has used OpenCV or
    onnxruntime can leave a child holding a lock no thread will release)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    return guarded_fork_server(["gateway.redaction.execution", "gateway.redaction.profiles"])


@contextmanager
def _one_opencv_thread() -> Iterator[None]:
    """OpenCV's own thread pool only adds switching when each core already runs a segment
    (the plate cascade takes about a quarter more CPU time with two threads than with one)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _worker(
    window: Window,
    profile: Profile,
    models: Models,
    settings: DetectionSettings,
    watch: Watch | None,
) -> Outcome | None:
    """One segment in a worker process, under the watchdog of the job it is part of."""
    return run_watched(watch, _segment, window, profile, models, settings)


def _segment(
    window: Window,
    profile: Profile,
    models: Models,
    settings: DetectionSettings,
    progress: Callable[[float], None] | None = None,
) -> Outcome | None:
    """One segment, or None when it holds no frames: the split is made by time, and a camera
    that records on motion can leave a gap between its frames longer than half the window."""
    with _one_opencv_thread():
        detectors = build_detectors(profile, models, settings)
        try:
            return execute(window, detectors, settings, progress)
        except EmptyWindowError:
            return None


def run_segments(
    windows: list[Window],
    output: Path,
    profile: Profile,
    models: Models,
    settings: DetectionSettings,
    progress: Callable[[float], None] | None,
) -> Outcome:
    """Redact the last window here and the others in worker processes, then join them.

    Starting a worker waits until the fork server has imported the pipeline (about 0.4 s, once
    per process), so the workers are started from a thread while this process gets going on its
    own window; if this job fails, its workers are ended rather than waited for.
    The late starters take the early windows: the last window is the one that pays for
    decoding from the keyframe before its start, which evens out the head start. The workers
    run under this job's watchdog (`watchdog.py`), and this process is alive while it waits.
    """
    context = _context()
    watch = current()
    try:
        with worker_pool(len(windows) - 1, context) as pool:
            started = _starter.submit(
                lambda: [
                    pool.submit(_worker, w, profile, models, settings, watch) for w in windows[:-1]
                ]
            )
            try:
                # The windows run side by side at about the same speed: ours stands for all.
                own_progress = None if progress is None else (lambda f: progress(min(f, 0.99)))
                own = _segment(windows[-1], profile, models, settings, own_progress)
                outcomes = [result(future) for future in started.result()] + [own]
            except BaseException:
                wait([started])  # until the workers it starts exist
                kill_workers(pool)
                raise
        joined = join(windows, outcomes, output)
    finally:
        # The segments, and what a worker ended mid-segment left (its encoder's temporary file).
        for window in windows:
            window.output.unlink(missing_ok=True)
            remove_partials(window.output)
    if progress is not None:
        progress(1.0)
    return joined


def join(windows: list[Window], outcomes: list[Outcome | None], output: Path) -> Outcome:
    """Concatenate the segment files packet by packet (no re-encoding) into `output`, leaving
    out the segments that held no frames (None); EmptyWindowError when none held any."""
    parts = [(w, o) for w, o in zip(windows, outcomes, strict=True) if o is not None]
    if not parts:
        raise EmptyWindowError
    done = [outcome for _, outcome in parts]
    first, last = done[0], done[-1]
    temp = temp_path_for(output)
    origin = Fraction(first.first_offset_s)
    try:
        with av.open(str(temp), "w", format="mp4", options=MUXER_OPTIONS) as out:
            target = None
            for window, outcome in parts:
                with av.open(str(window.output)) as part:
                    source = part.streams.video[0]
                    if target is None:
                        target = out.add_stream_from_template(source)
                    elif source.codec_context.extradata != target.codec_context.extradata:
                        raise RedactionError("The clip's segments were encoded differently.")
                    shift = round((Fraction(outcome.first_offset_s) - origin) / source.time_base)
                    for packet in part.demux(source):
                        alive()
                        if packet.dts is None:
                            continue  # the demuxer's end-of-stream marker
                        packet.pts = None if packet.pts is None else packet.pts + shift
                        packet.dts += shift
                        packet.stream = target
                        out.mux(packet)
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    before = [sum(o.frames for o in done[:i]) for i in range(len(done))]  # frames of earlier parts
    return Outcome(
        frames=sum(o.frames for o in done),
        duration_s=last.first_offset_s - first.first_offset_s + last.duration_s,
        first_offset_s=first.first_offset_s,
        faces=sum(o.faces for o in done),
        plates=sum(o.plates for o in done),
        width=last.width,
        height=last.height,
        encoder=last.encoder,
        thumbnails=tuple(
            (number + earlier, offset + o.first_offset_s - first.first_offset_s, picture)
            for o, earlier in zip(done, before, strict=True)
            for number, offset, picture in o.thumbnails
        ),
        versions=first.versions,
    )
