"""Worker processes that never outlive the gateway, nor a job's time limit.

Redaction runs in a process pool (and that pool's workers start segment workers). If the
gateway is killed, Linux would re-parent those workers to init and let them run on — or
hang — holding a clip; `die_with_parent` asks the kernel to kill them with their parent.
A job that hangs in the worker (a decoder or a model stuck in C code) is ended by
`run_within`, and `RestartingPool` gives the next job a new worker.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None) -> None:
    """Pool initializer: SIGKILL this process when its parent exits (Linux only)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died before prctl took effect.
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def worker_pool(
    max_workers: int, context: multiprocessing.context.BaseContext
) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process.

    With the spawn start method a worker's parent is this process, which it checks; with a
    fork server the parent is the server, which itself exits when this process does.
    """
    direct = context.get_start_method() == "spawn"
    return ProcessPoolExecutor(
        max_workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid() if direct else None,),
    )


def run_within[R](limit_s: float, fn: Callable[..., R], /, *args: Any) -> R:
    """In a pool worker: `fn(*args)`, or this process ends (exit status 1, every thread's stack
    written to stderr) if it has not returned after `limit_s` seconds. faulthandler's watchdog
    is a C thread that needs no GIL, so this works even when `fn` is stuck in C code holding
    it, where no Python-level timeout or signal handler would ever run. The pool then fails
    the job with BrokenProcessPool, and the worker's own children die with it."""
    faulthandler.dump_traceback_later(limit_s, exit=True)
    try:
        return fn(*args)
    finally:
        faulthandler.cancel_dump_traceback_later()


class RestartingPool(Executor):
    """A one-process `worker_pool` that starts afresh when its worker died (killed for memory,
    or crashed on a clip): the job it was running fails with BrokenProcessPool, the next one
    runs, where a plain pool would refuse every job until the gateway restarted."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context
        self._pool = worker_pool(1, context)

    def submit[T](self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = worker_pool(1, self._context)
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
