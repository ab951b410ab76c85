"""Redaction worker processes die with the gateway instead of running on as orphans, a job
past its time limit or making no progress ends its worker (its own workers too), each job runs
in a new worker, also after one died, and a job its worker died before reaching runs in the new
one."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from demo.processes import alive, descendants
from gateway import watchdog
from gateway.config import ConfigError
from gateway.preparation import start_redaction_worker
from gateway.redaction.profiles import BUNDLED, Models
from gateway.workers import (
    FORK_SERVER_PARENT,
    RestartingPool,
    TimeLimitExceeded,
    run_in_worker,
    worker_pool,
)

# A parent that starts a pool worker busy on a long task, reports the worker's pid, then is
# SIGKILLed (as a gateway killed mid-redaction would be).
PARENT = """
import multiprocessing, os, signal, sys, time
from gateway.workers import guarded_fork_server, worker_pool

def busy() -> int:
    print(os.getpid(), flush=True)
    time.sleep(60)
    return 0

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    if sys.argv[1] == "forkserver":  # as gateway.redaction.segments sets it up
        context = guarded_fork_server([])
    pool = worker_pool(1, context)
    pool.submit(busy)
    time.sleep(3)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_workers_die_with_their_parent(tmp_path: Path, method: str) -> None:
    script = tmp_path / "parent.py"  # a file, so that spawned workers can import its function
    script.write_text(PARENT)
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, str(script), method],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert result.returncode == -9, result.stderr
    worker = int(result.stdout.split()[0])
    assert gone(worker), f"worker {worker} outlived its parent"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_fork_server_whose_parent_is_gone_exits_at_once() -> None:
    # A parent killed before its fork server asked to die with it left the server, and the
    # worker it had forked, running for good: the server must be the child of the named parent.
    for parent, code in ((os.getpid(), 0), (1, 1)):
        result = subprocess.run(
            [sys.executable, "-c", "import gateway.redaction.forkserver_guard"],
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONPATH": os.getcwd(), FORK_SERVER_PARENT: str(parent)},
        )
        assert result.returncode == code


def gone(pid: int) -> bool:
    """Whether `pid` has ended, or does within 10 s: a killed process is reported dead (the pool
    fails its job) while the kernel may still be tearing it down."""
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture
def pool() -> Iterator[RestartingPool]:
    pool = RestartingPool(multiprocessing.get_context("spawn"))
    yield pool
    pool.shutdown()


def test_a_restarting_pool_runs_each_job_in_a_new_worker(pool: RestartingPool) -> None:
    # A worker ends with its job, giving back what the job left in it; one that died on a job
    # (BrokenProcessPool) is replaced as well.
    first = pool.submit(os.getpid).result(timeout=60)
    second = pool.submit(os.getpid).result(timeout=60)
    assert second != first and gone(first)
    with pytest.raises(BrokenProcessPool):
        pool.submit(_die).result(timeout=60)
    third = pool.submit(os.getpid).result(timeout=60)
    assert third not in (first, second) and gone(second)
    assert gone(third) and len(waiting_worker(pool, third)) == 1  # replaced, idle meanwhile


def test_shutting_a_pool_down_without_waiting_fails_nothing_and_leaves_no_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The gateway stops its pool without waiting (a job may be running) right after a job, as
    # its worker ends and the pool starts the next: Python's pool then failed in its own thread
    # (a TypeError, in about one round in ten here) and a pool's worker could outlive it.
    failures: list[BaseException | None] = []
    monkeypatch.setattr("threading.excepthook", lambda args: failures.append(args.exc_value))
    before = set(multiprocessing.active_children())
    for _ in range(20):
        pool = RestartingPool(multiprocessing.get_context("spawn"))
        worker = pool.submit(os.getpid).result(timeout=60)
        pool.shutdown(wait=False, cancel_futures=True)
        assert gone(worker) and set(multiprocessing.active_children()) <= before
    running = RestartingPool(multiprocessing.get_context("spawn"))
    busy = running.submit(time.sleep, 60)
    [working] = waiting_worker(running, 0)
    running.shutdown(wait=False, cancel_futures=True)  # a job still running ends with its worker
    with pytest.raises(BrokenProcessPool):
        busy.result(timeout=10)
    assert gone(working) and set(multiprocessing.active_children()) <= before
    assert failures == []


def waiting_worker(pool: RestartingPool, previous: int) -> list[int]:
    """The worker the pool started after `previous` ended (within 10 s), waiting for a job."""
    deadline = time.monotonic() + 10
    while (pids := [pid for pid in pool.pids() if pid != previous]) == [] and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    return pids


def _stuck_in_c() -> None:
    # Sleeps inside libc holding the GIL (PyDLL does not release it), as a decoder or model
    # stuck in C code would: no Python thread or signal handler runs meanwhile.
    ctypes.PyDLL(None).sleep(60)


async def test_a_job_past_its_time_limit_ends_its_worker_even_when_stuck_in_c(
    pool: RestartingPool,
) -> None:
    first = await run_in_worker(pool, 30, os.getpid)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as stopped:
        await asyncio.wait_for(run_in_worker(pool, 1.0, _stuck_in_c), 50)
    assert time.monotonic() - started < 40  # ended by its limit, not by returning
    assert "in _stuck_in_c" in stopped.value.stacks  # where it hung, for the log
    assert stopped.value.limit_s == 1.0 and gone(first)
    second = await run_in_worker(pool, 1.0, os.getpid)
    await asyncio.sleep(1.5)  # past that job's limit: the next job runs
    assert await asyncio.get_running_loop().run_in_executor(pool, os.getpid) not in (first, second)


def _alive_for_then_stuck(seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(0.1)
        watchdog.alive()
    _stuck_in_c()


@pytest.mark.parametrize(("limit_s", "alive_s", "stalled", "why", "stood_in"), [
    # It runs on while making progress, past its 1 s stall limit, and stops soon after it hangs.
    (50, 3.0, True, "the job made no progress for 1 s", "_stuck_in_c"),
    # Making progress does not take it past its time limit.
    (2.0, 60.0, False, "the job ran past its 2 s time limit", "_alive_for_then_stuck"),
], ids=["stalled", "overran"])
async def test_a_job_is_stopped_when_it_stops_making_progress_or_at_its_time_limit(
    pool: RestartingPool, limit_s: float, alive_s: float, stalled: bool, why: str, stood_in: str
) -> None:
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as stopped:
        await asyncio.wait_for(
            run_in_worker(pool, limit_s, _alive_for_then_stuck, alive_s, stall_s=1.0), 60
        )
    assert min(alive_s, limit_s) < time.monotonic() - started < 30
    assert (stopped.value.stalled, str(stopped.value)) == (stalled, why)
    assert f"in {stood_in}" in stopped.value.stacks


def _in_own_worker(fn: Callable[..., object], *args: object) -> None:
    # As segments.run_segments does: the job's own worker runs under the job's watch. Starting
    # the fork server and the worker counts as no progress: it took over the 1.5 s a 1 s stall
    # limit allows a waiting process now and then here, so the tests give it 2 s.
    context = multiprocessing.get_context("forkserver")
    with worker_pool(1, context) as own:
        watchdog.result(own.submit(watchdog.run_watched, watchdog.current(), fn, *args))


async def test_a_jobs_own_worker_process_is_watched_too(pool: RestartingPool) -> None:
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as stopped:
        await asyncio.wait_for(
            run_in_worker(pool, 50, _in_own_worker, _alive_for_then_stuck, 3.0, stall_s=2.0), 60
        )
    # The job waited on its worker for longer than its stall limit without being stopped; the
    # worker's own watchdog stopped it when it hung, and wrote where.
    assert 3.0 < time.monotonic() - started < 30
    assert stopped.value.stalled and "in _stuck_in_c" in stopped.value.stacks


def _alive_for_then_stopped(seconds: float, pid_file: Path) -> None:
    pid_file.write_text(str(os.getpid()))
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(0.1)
        watchdog.alive()
    os.kill(os.getpid(), signal.SIGSTOP)  # its watchdog, a thread of this process, stops too


async def test_a_jobs_own_worker_that_can_no_longer_run_stops_the_job(
    pool: RestartingPool, tmp_path: Path
) -> None:
    # The job took waiting for its worker for progress, and waited on a stopped one for ever.
    pid_file = tmp_path / "worker"
    started = time.monotonic()
    try:
        with pytest.raises(TimeLimitExceeded) as stopped:
            await asyncio.wait_for(
                run_in_worker(
                    pool, 50, _in_own_worker, _alive_for_then_stopped, 2.0, pid_file, stall_s=2.0
                ),
                30,
            )
    finally:
        worker = int(pid_file.read_text())
        if alive(worker):
            os.kill(worker, signal.SIGKILL)  # not to leave it stopped when this fails
    # Stopped as a job that hangs is, where it waited, and the stopped worker died with it.
    assert 2.0 < time.monotonic() - started < 20
    assert stopped.value.stalled and "in result" in stopped.value.stacks
    assert gone(worker)


def _die_soon() -> None:
    time.sleep(0.5)
    _die()


async def test_a_job_its_worker_died_before_reaching_runs_in_a_new_worker(
    pool: RestartingPool,
) -> None:
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(pool, os.getpid)
    # The worker dies on the job ahead (killed for memory, say) while this one waits.
    ahead = loop.run_in_executor(pool, _die_soon)
    second = await asyncio.wait_for(run_in_worker(pool, 30, os.getpid), 60)
    with pytest.raises(BrokenProcessPool):
        await ahead
    assert second != first and gone(first)
    # The worker waiting for the next job dies, and the job arrives before the pool noticed.
    [idle] = await asyncio.to_thread(waiting_worker, pool, second)
    os.kill(idle, signal.SIGKILL)
    third = await asyncio.wait_for(run_in_worker(pool, 30, os.getpid), 60)
    assert third not in (second, idle)


async def test_a_worker_killed_during_its_job_is_not_taken_for_its_time_limit(
    pool: RestartingPool,
) -> None:
    ahead = asyncio.get_running_loop().run_in_executor(pool, time.sleep, 1.5)  # longer than 1 s
    with pytest.raises(BrokenProcessPool) as died:
        await asyncio.wait_for(run_in_worker(pool, 1.0, _die), 60)
    assert not isinstance(died.value, TimeLimitExceeded)
    await ahead


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder, holding job folders: one a gateway killed mid-job left (its process
    has ended), one of a job this gateway is running, and one not named by us."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (tmp_path / f"safesmart-job-{ended.pid}-k3x9").mkdir()
    (tmp_path / f"safesmart-job-{ended.pid}-k3x9" / "stacks").write_text("")
    (tmp_path / f"safesmart-job-{os.getpid()}-q1w2").mkdir()
    (tmp_path / "safesmart-job-abc").mkdir()
    return tmp_path


async def test_job_folders_left_by_gateways_no_longer_running_are_deleted_at_start(
    temp: Path,
) -> None:
    (await start_redaction_worker(BUNDLED)).shutdown()
    left = await asyncio.to_thread(os.listdir, temp)
    assert sorted(left) == sorted([f"safesmart-job-{os.getpid()}-q1w2", "safesmart-job-abc"])


async def test_a_job_keeps_its_file_in_a_folder_named_by_the_gateways_process(
    pool: RestartingPool,
) -> None:
    folder = Path(await run_in_worker(pool, 30, _stacks_folder))
    assert folder.name.startswith(f"safesmart-job-{os.getpid()}-")
    assert not await asyncio.to_thread(folder.exists)  # deleted when the job ended


def _stacks_folder() -> str:
    watch = watchdog.current()
    assert watch is not None
    return str(watch.stacks.parent)


def _reading(path: Path) -> int | None:
    """The process of ours (below this one) that has `path` open, if one has."""
    for pid in descendants(os.getpid()):
        try:
            if any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:  # it ended while we looked
            continue
    return None


async def test_a_worker_that_dies_loading_the_residents_models_stops_the_gateway_starting(
    tmp_path: Path,
) -> None:
    # A face model on a share that stops answering mid-read; the worker is then killed (as the
    # kernel kills a process out of memory).
    model = tmp_path / "face.onnx"
    os.mkfifo(model)
    starting = asyncio.create_task(start_redaction_worker(Models(face=model)))
    # Opening the pipe to write returns once the worker has opened it to read the model.
    writer = await asyncio.wait_for(asyncio.to_thread(os.open, model, os.O_WRONLY), 60)
    try:
        worker = await asyncio.to_thread(_reading, model)
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(ConfigError) as refused:
            await asyncio.wait_for(starting, 60)
    finally:
        os.close(writer)
    assert str(refused.value) == (
        "cannot redact with the model files given: loading them stopped the worker (it ran out "
        "of memory or crashed)"
    )
