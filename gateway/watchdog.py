"""The watchdog of a job in a worker process: the process ends when the job makes no progress
for a while (it hung), or when the job runs past its time limit.

faulthandler's watchdog is a C thread that needs no GIL, so it ends a job even when it is stuck
in C code holding the GIL, where no Python-level timeout or signal handler would ever run. When
it fires it writes every thread's stack to the job's file and ends the process (exit status 1).
The job's loops call `alive()` as they go (decoding, joining, hashing), which starts the stall
period again, never past the job's deadline. A watched job's own worker processes are watched
the same way (pass them `current()`), so a process waiting for them is alive while they are
(`result`): each process of the job touches the job's stacks file when its watchdog starts or
starts again, and the one waiting takes a newer modification time for its workers' progress. A
worker that can no longer run at all (stopped, or frozen by a debugger) then stops the job as
one that hangs does, where its own watchdog, a thread of the stopped process, cannot.
"""

from __future__ import annotations

import faulthandler
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REARM_S = 1.0  # `alive` starts the stall period again at most this often (or half of it)


@dataclass(frozen=True)
class Watch:
    """How a job is watched: the file its stacks go to, the stall limit, the deadline."""

    stacks: Path
    stall_s: float | None  # no progress for this long ends the job (None: only the deadline)
    deadline: float  # on time.monotonic(), a clock every process of the machine shares

    @property
    def rearm_s(self) -> float:
        """How often `alive` starts the stall period again: a job is ended between `stall_s`
        less this and `stall_s` after its last progress."""
        return _rearm_s(self.stall_s)


def _rearm_s(stall_s: float | None) -> float:
    return REARM_S if stall_s is None else min(REARM_S, stall_s / 2)


class _Armed:
    def __init__(self, watch: Watch, out: TextIO) -> None:
        self.watch, self.out, self.at = watch, out, 0.0
        self.arm()
        self.progress_at = self.at  # the last `alive()`

    def arm(self, *, waiting: bool = False) -> None:
        """Start the stall period again. A process `waiting` for its workers touches nothing
        (its touch would pass for theirs), and gives them a little longer than their own
        watchdogs do, so that a worker that hangs is the one that writes where."""
        self.at = time.monotonic()
        wait = self.watch.deadline - self.at
        if self.watch.stall_s is not None:
            wait = min(wait, self.watch.stall_s + (self.watch.rearm_s if waiting else 0.0))
        faulthandler.dump_traceback_later(max(wait, 1e-6), exit=True, file=self.out)
        if not waiting:
            os.utime(self.out.fileno())


_armed: _Armed | None = None


def run_within[R](
    limit_s: float, stall_s: float | None, stacks: Path, fn: Callable[..., R], /, *args: Any
) -> R:
    """In a pool worker: create `stacks`, then `fn(*args)`, ended after `limit_s` s in all or
    `stall_s` s without `alive()`. The pool then fails the job with BrokenProcessPool, and the
    worker's own children die with it."""
    return run_watched(Watch(stacks, stall_s, time.monotonic() + limit_s), fn, *args)


def run_watched[R](watch: Watch | None, fn: Callable[..., R], /, *args: Any) -> R:
    """`fn(*args)` under `watch` (when there is one), its stacks appended to its file."""
    global _armed
    if watch is None:
        return fn(*args)
    with watch.stacks.open("a") as out:
        _armed = _Armed(watch, out)
        try:
            return fn(*args)
        finally:
            faulthandler.cancel_dump_traceback_later()
            _armed = None


def alive() -> None:
    """The watched job is making progress (nothing happens when no job is watched)."""
    if _armed is not None:
        _armed.progress_at = time.monotonic()
        if _armed.progress_at - _armed.at >= _armed.watch.rearm_s:
            _armed.arm()


def quiet_s() -> float | None:
    """How long the watched job has gone without progress (None when no job is watched)."""
    return None if _armed is None else time.monotonic() - _armed.progress_at


def current() -> Watch | None:
    """The watch over this process's job, for the worker processes it starts."""
    return None if _armed is None else _armed.watch


def result[R](future: Future[R]) -> R:
    """The result of a job that a watched worker process runs; alive while the worker makes
    progress (its watchdog touched the job's stacks file since this process last looked)."""
    armed = _armed
    if armed is None:
        return future.result()
    heard = _last_touched(armed)
    while True:
        try:
            return future.result(timeout=armed.watch.rearm_s)
        except TimeoutError:
            if (touched := _last_touched(armed)) != heard:
                heard = touched
                armed.progress_at = time.monotonic()
                armed.arm(waiting=True)


def _last_touched(armed: _Armed) -> int:
    return os.fstat(armed.out.fileno()).st_mtime_ns


def stalled(stacks: str, stall_s: float | None) -> bool:
    """Whether the watchdog that wrote `stacks` fired for want of progress, not at the deadline:
    its header names the wait it was armed with, `stall_s` (a little more in a process waiting
    for its workers) unless the deadline came sooner."""
    found = re.match(r"Timeout \((\d+):(\d\d):(\d\d(?:\.\d+)?)\)!", stacks)
    if found is None or stall_s is None:
        return False
    hours, minutes, seconds = found.groups()
    waited = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return any(abs(waited - wait) < 1e-5 for wait in (stall_s, stall_s + _rearm_s(stall_s)))
