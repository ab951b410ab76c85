"""What bench.ha_latency measured, per request and in summary, with a note on the machine."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.push_latency import percentile

TARGET_MEDIAN_MS = 1000.0


@dataclass(frozen=True)
class Sample:
    """One request: the benchmark's timing and each process's own clock readings."""

    request_id: str
    posted_at: datetime  # just before the admin POST
    total_ms: float | None = None  # POST → event at our WebSocket client; None: not within bound
    fired_at: datetime | None = None  # Home Assistant's time_fired
    seen_at: datetime | None = None  # our WebSocket client received the event
    issued_at: datetime | None = None  # the gateway's view: when the city signed the request
    received_at: datetime | None = None  # the gateway's view: when it accepted it

    def stages_ms(self) -> tuple[float, float, float, float] | None:
        """posted → signed → gateway received → HA fired → client saw, on the shared clock."""
        moments = (self.posted_at, self.issued_at, self.received_at, self.fired_at, self.seen_at)
        if any(moment is None for moment in moments):
            return None
        a, b, c, d, e = (m for m in moments if m is not None)
        return _ms(a, b), _ms(b, c), _ms(c, d), _ms(d, e)


@dataclass(frozen=True)
class MachineNote:
    cpus: int
    cpu_model: str
    load_1min: float
    python: str

    def __str__(self) -> str:
        return f"{self.cpus} x {self.cpu_model}, Python {self.python}"


def _ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


def machine_note() -> MachineNote:
    """The CPU, its count, the 1-minute load average now and the Python version."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return MachineNote(os.cpu_count() or 0, model, os.getloadavg()[0], platform.python_version())


def print_report(
    warm_up: Sample, samples: list[Sample], ha_version: str, before: MachineNote, after: MachineNote
) -> int:
    """Print the table and the summary; return how many requests missed the bound."""
    print("  #  request   total ms | city signed  gateway got  HA fired  client saw (ms)")
    for index, sample in enumerate(samples):
        total = f"{sample.total_ms:8.1f}" if sample.total_ms is not None else "  >10 s "
        stages = sample.stages_ms()
        split = "  ".join(f"{value:10.1f}" for value in stages) if stages else "(no event)"
        print(f"{index:3d}  {sample.request_id[:8]}  {total} | {split}")
    arrived = [s.total_ms for s in samples if s.total_ms is not None]
    missed = len(samples) - len(arrived)
    print(
        f"warm-up (not counted): {warm_up.total_ms:.1f} ms; machine: {after}, "
        f"Home Assistant {ha_version}, load average {before.load_1min:.1f} before, "
        f"{after.load_1min:.1f} after"
    )
    staged = [stages for s in samples if (stages := s.stages_ms()) is not None]
    if staged:
        medians = [statistics.median(column) for column in zip(*staged, strict=True)]
        print(
            "median per stage: city signed {:.1f} ms, gateway received {:.1f} ms "
            "(its own issued_at → received_at), HA fired {:.1f} ms, client saw {:.1f} ms".format(
                *medians
            )
        )
    if not arrived:
        print(f"ha_latency: none of {len(samples)} requests reached Home Assistant within 10 s")
        return missed
    median = statistics.median(arrived)
    verdict = "met" if median < TARGET_MEDIAN_MS and not missed else "MISSED"
    print(
        f"ha_latency: {len(samples)} requests, median {median:.1f} ms, "
        f"p95 {percentile(arrived, 0.95):.1f} ms, max {max(arrived):.1f} ms, "
        f"min {min(arrived):.1f} ms, over 10 s {missed}; "
        f"target median < {TARGET_MEDIAN_MS:.0f} ms: {verdict}"
    )
    return missed
