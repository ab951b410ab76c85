"""The memory benchmark's readings: RSS and PSS of a real process, from /proc."""

import subprocess
import sys

from demo.processes import pss_bytes, rss_bytes

HOLDS = 64 * 2**20  # bytes of private memory the child writes, then holds
# Every page written, so every page is resident; a line out tells the test it is ready.
CHILD = f"b = bytes(range(256)) * {HOLDS // 256}; print(flush=True); input()"


def test_pss_counts_what_a_process_holds_and_at_most_its_rss() -> None:
    child = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline()  # it holds the buffer now
        rss, pss = rss_bytes(child.pid), pss_bytes(child.pid)
        assert HOLDS <= pss <= rss  # the buffer is its own; libraries it shares count in part
    finally:
        child.communicate(b"\n", timeout=30)  # it ends and is reaped
    assert (rss_bytes(child.pid), pss_bytes(child.pid)) == (0, 0)  # gone: nothing to read
