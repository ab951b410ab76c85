"""Starting and stopping the demo's servers as real processes on loopback, and looking at
processes through /proc (Linux): who they started, whether they live, how much memory."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DemoError(Exception):
    """A demo step failed; the message says which and where its log is."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(name: str, argv: list[str], port: int, log: Path, timeout: float = 30) -> Server:
    """Start `argv` and wait until it accepts connections on 127.0.0.1:`port`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console scripts
            argv, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
    server = Server(name, process, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{name} exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise DemoError(f"{name} did not start listening within {timeout:.0f} s; see {log}")


def run(argv: list[str], what: str, input_text: str | None = None) -> str:
    """Run a command to completion and return its stdout; fail with its output otherwise."""
    result = subprocess.run(  # noqa: S603 - our own console scripts
        argv, capture_output=True, text=True, input=input_text, timeout=300, check=False
    )
    if result.returncode != 0:
        raise DemoError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_until(
    what: str, check: Any, timeout: float, log: Path | None = None, interval: float = 0.2
) -> Any:
    """Poll `check` until it returns something truthy; a DemoError (naming the log) otherwise."""
    deadline = time.monotonic() + timeout
    last_error: DemoError | None = None
    while time.monotonic() < deadline:
        try:
            if value := check():
                return value
        except DemoError as err:  # not ready yet; the last error is reported on timeout
            last_error = err
        time.sleep(interval)
    reason = f" (last error: {last_error})" if last_error else ""
    where = f"; see {log}" if log else ""
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}{reason}{where}")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from /proc."""
    found: list[int] = []
    queue = [pid]
    while queue:
        for task in Path(f"/proc/{queue.pop()}/task").glob("*/children"):
            try:
                children = [int(child) for child in task.read_text().split()]
            except OSError:  # the task ended while we looked
                continue
            found += children
            queue += children
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` in bytes; 0 once it has gone."""
    return _proc_kib(f"/proc/{pid}/status", "VmRSS:") * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size of `pid` in bytes (each page shared with other processes counted
    in shares, so a process tree's sum is what it holds); 0 once it has gone."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:") * 1024


def _proc_kib(path: str, field: str) -> int:
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0
