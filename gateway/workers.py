"""Worker processes that never outlive the gateway.

Redaction runs in a process pool (and that pool's workers start segment workers). If the
gateway is killed, Linux would re-parent those workers to init and let them run on — or
hang — holding a clip; `die_with_parent` asks the kernel to kill them with their parent.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

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
