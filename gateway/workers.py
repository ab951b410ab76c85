"""Worker processes that never outlive the gateway, nor a job's time limit.

Redaction runs in a process pool (and that pool's workers start segment workers). If the
gateway is killed, Linux would re-parent those workers to init and let them run on — or
hang — holding a clip; `die_with_parent` asks the kernel to kill them with their parent.
A job that hangs in the worker (a decoder or a model stuck in C code) is ended by its watchdog
(`watchdog.py`), and `RestartingPool` gives the next job a new worker. `run_in_worker` runs a job
there and tells how it ended when its worker died.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .watchdog import run_within, stalled

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


# The pid of the process a fork server started with guarded_fork_server must die with.
FORK_SERVER_PARENT = "SAFESMART_FORK_SERVER_PARENT"


def guarded_fork_server(preload: list[str]) -> multiprocessing.context.BaseContext:
    """The fork server start method, its server preloading `preload` and dying with this
    process (`gateway.redaction.forkserver_guard`), also if this process died before the
    server got as far as asking the kernel for that: it is told whose child it must be."""
    os.environ[FORK_SERVER_PARENT] = str(os.getpid())  # inherited by the server
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gateway.redaction.forkserver_guard", *preload])
    return context


def worker_pool(
    max_workers: int, context: multiprocessing.context.BaseContext, jobs: int | None = None
) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process (and each exit after `jobs` jobs).

    With the spawn start method a worker's parent is this process, which it checks; with a
    fork server the parent is the server, which itself exits when the thread that started it
    does (`forkserver_guard`): start it from a thread that lives as long as this process.
    """
    direct = context.get_start_method() == "spawn"
    return ProcessPoolExecutor(
        max_workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid() if direct else None,),
        max_tasks_per_child=jobs,
    )


def kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL the pool's workers, for a job that failed while they worked for it: shutting the
    pool down would wait for them to finish (Python 3.14 has `pool.kill_workers()`)."""
    for process in list((pool._processes or {}).values()):  # None once shut down
        process.kill()


JOB_FOLDER = "safesmart-job-"  # + the gateway's pid: where `run_in_worker` keeps a job's file


def remove_stale_job_folders() -> None:
    """Delete the job folders of gateways that are no longer running (one killed mid-job had no
    chance to), in the temporary folder; those of running processes are left alone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{JOB_FOLDER}*-*"):
        pid = folder.name.removeprefix(JOB_FOLDER).split("-", 1)[0]
        try:
            mine = folder.is_dir() and folder.lstat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


class TimeLimitExceeded(BrokenProcessPool):
    """A job's watchdog ended its worker (`watchdog.py`): `stalled` when it made no progress
    for `stall_s`, else it ran past `limit_s`; `stacks`: where its threads were."""

    def __init__(self, limit_s: float, stall_s: float | None, stacks: str) -> None:
        self.stalled = stalled(stacks, stall_s)
        super().__init__(f"the job made no progress for {stall_s:g} s" if self.stalled
                         else f"the job ran past its {limit_s:g} s time limit")
        self.limit_s, self.stall_s, self.stacks = limit_s, stall_s, stacks


async def run_in_worker[R](
    executor: Executor,
    limit_s: float,
    fn: Callable[..., R],
    /,
    *args: Any,
    stall_s: float | None = None,
) -> R:
    """`fn(*args)` in the executor's worker process, ended after `limit_s` s, or `stall_s` s
    without progress (`watchdog.run_within`).

    When the worker dies, the file `run_within` creates tells how far the job got:
    - none: the job never started (the worker died on the job before it, or while idle, before
      the pool noticed), so it is not to blame and is submitted once more, to a new worker
      (`RestartingPool`);
    - stacks written: its watchdog stopped it, TimeLimitExceeded;
    - empty: its worker died during it (out of memory, a crash in C code), BrokenProcessPool.
    """
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix=f"{JOB_FOLDER}{os.getpid()}-") as folder:
        stacks = Path(folder) / "stacks"

        async def attempt() -> R:
            return await loop.run_in_executor(
                executor, run_within, limit_s, stall_s, stacks, fn, *args
            )

        try:
            try:
                return await attempt()
            except BrokenProcessPool:
                if stacks.exists():
                    raise
            return await attempt()
        except BrokenProcessPool as err:
            if stacks.exists() and (written := stacks.read_text(errors="replace")):
                raise TimeLimitExceeded(limit_s, stall_s, written) from err
            raise


class RestartingPool(Executor):
    """A one-process `worker_pool` whose worker runs one job and exits, and that starts afresh
    when its worker died (killed for memory, or crashed on a clip): the job it was running
    fails with BrokenProcessPool, the next one runs, where a plain pool would refuse every job
    until the gateway restarted.

    One job a worker: what a redaction leaves in its process (the libraries, their heaps and
    thread pools, the segments' fork server: about 500 MiB after an 8 s window at 720p, 730
    after a second one) is given back when it ends, not kept by an idle gateway for days until
    the next request. The worker waiting for the next job has loaded none of that (under 40
    MiB); each job pays for loading it again, 0.5-1 s (`bench.redaction.idle`)."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context
        self._pool = worker_pool(1, context, jobs=1)

    def submit[T](self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = worker_pool(1, self._context, jobs=1)
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """`wait=False` kills the worker, ending a job it is running (as the gateway's exit
        does), and then waits for the pool's thread, which then ends at once. Python's pool
        (3.13) replaces a worker that ended after its one job from that thread, which fails
        with a TypeError if a `shutdown(wait=False)` has just dropped its table of workers."""
        if not wait:
            kill_workers(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=cancel_futures)

    def pids(self) -> list[int]:
        """The worker's process id (none while one that ended is being replaced)."""
        return list(self._pool._processes or ())
