"""Request issued at the city → `safesmart_footage_request` on a real Home Assistant's bus.

Starts Home Assistant (`.venv-ha`), the reference city and a gateway (one camera on a folder
source with a generated clip) as processes on 127.0.0.1 the way the demo does, sets up the
integration through its config flow and subscribes to the event over HA's WebSocket API. Then
issues N requests one at a time through the city's admin API, each timed from just before the
POST until its event arrives. Target: median under 1 s.

    .venv/bin/python -m bench.ha_latency --requests 30
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import aiohttp

from bench.ha_latency_report import Sample, machine_note, print_report
from bench.ha_websocket import EventWatch, subscribe
from city.errors import CityError
from city.requestform import post_request
from demo.footage import write_clip
from demo.home_assistant import start_home_assistant
from demo.processes import DemoError, Server
from demo.stack import HOME, CameraSpec, request_body, start_stack
from protocol.timeutil import parse_time

PER_REQUEST_TIMEOUT_S = 10.0
# Starting HA, onboarding and the config flow take 20-60 s here; the bound leaves room for a
# loaded machine, and each request adds at most its own bound plus the gateway read.
SETUP_BOUND_S = 420
DEVICE = "front-door"


class LatencyBenchError(DemoError):
    """The benchmark could not measure; the message says why and which log to read."""


@dataclass(frozen=True)
class Setup:
    """Where the running processes are and what the benchmark needs to talk to them."""

    city_url: str
    admin_token: str
    gateway_url: str
    gateway_token: str
    ha_url: str
    ha_token: str
    ha_version: str
    window: tuple[datetime, datetime]  # each request's: inside the generated clip, as in the demo


def start_everything(out: Path, servers: list[Server]) -> Setup:
    """HA, city and gateway on loopback, enrolled, one camera, SafeSmart set up in HA."""
    clip_start = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    stamp = clip_start.strftime("%Y%m%d_%H%M%S")
    write_clip(out / "footage" / DEVICE / f"{DEVICE}_{stamp}.mp4", clip_start)
    ha = start_home_assistant(out, HOME)
    servers.append(ha.server)
    ha.onboard()

    stack = start_stack(
        out, out / "footage", [CameraSpec(DEVICE, "Front door", *HOME)], "Bench City"
    )
    servers.extend(stack.servers)
    gateway = stack.start_gateway()
    servers.append(gateway)
    gateway_token = stack.api_token
    ha.add_integration(gateway.url, gateway_token)
    return Setup(
        city_url=stack.city.url,
        admin_token=stack.admin_token,
        gateway_url=gateway.url,
        gateway_token=gateway_token,
        ha_url=ha.url,
        ha_token=ha.access_token,
        ha_version=str(ha.call("GET", "/api/config")["version"]),
        window=(clip_start + timedelta(seconds=5), clip_start + timedelta(seconds=13)),
    )  # fmt: skip


async def issue(setup: Setup, case: str) -> str:
    """POST one request to the city's admin API; its id."""
    status, answer = await post_request(
        setup.city_url, setup.admin_token, request_body(case, HOME, *setup.window)
    )
    if status != 201:
        raise LatencyBenchError(f"the city refused request {case} ({status}): {answer}")
    addressed = answer["requests"]
    if len(addressed) != 1:
        raise LatencyBenchError(f"request {case} went to {len(addressed)} gateways, not 1")
    return str(addressed[0]["request_id"])


async def one_request(setup: Setup, watch: EventWatch, case: str) -> Sample:
    """Issue one request and time it until Home Assistant's bus event reaches us."""
    posted_at = datetime.now(UTC)
    started = time.perf_counter()
    deadline = started + PER_REQUEST_TIMEOUT_S
    try:
        async with asyncio.timeout(PER_REQUEST_TIMEOUT_S):
            request_id = await issue(setup, case)
    except TimeoutError as err:
        raise LatencyBenchError(
            f"the city did not answer request {case} within {PER_REQUEST_TIMEOUT_S:.0f} s"
        ) from err
    arrival = await watch.wait_for(request_id, deadline)
    if arrival is None:
        return Sample(request_id, posted_at)
    return Sample(
        request_id,
        posted_at,
        total_ms=(arrival.perf - started) * 1000,
        fired_at=arrival.fired_at,
        seen_at=arrival.seen_at,
    )


async def gateway_view(session: aiohttp.ClientSession, setup: Setup, sample: Sample) -> Sample:
    """Add the local API's issued_at (city signed it) and received_at (gateway took it)."""
    url = f"{setup.gateway_url}/api/v1/requests/{sample.request_id}"
    headers = {"Authorization": f"Bearer {setup.gateway_token}"}
    async with session.get(url, headers=headers) as response:
        if response.status != 200:
            raise LatencyBenchError(
                f"the gateway answered {response.status} for request {sample.request_id}"
            )
        request = await response.json()
    return replace(
        sample,
        issued_at=parse_time(request["issued_at"], "issued_at"),
        received_at=parse_time(request["received_at"], "received_at"),
    )


async def measure(setup: Setup, count: int) -> tuple[Sample, list[Sample]]:
    """A warm-up request (not counted), then `count` timed ones, one at a time."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        ws = await subscribe(session, setup.ha_url, setup.ha_token)
        watch = EventWatch(ws)
        listener = asyncio.create_task(watch.run())
        try:
            # The first request after start-up also pays for imports and caches in each process,
            # and proves the path works. (The gateway's health says "connected" only once its
            # first long-poll returns, up to 25 s after start, though the poll is open at once.)
            warm_up = await one_request(setup, watch, "HA-LATENCY-WARMUP")
            if warm_up.total_ms is None:
                raise LatencyBenchError(
                    f"the warm-up request did not reach Home Assistant within "
                    f"{PER_REQUEST_TIMEOUT_S:.0f} s; see the logs"
                )
            samples = [
                await one_request(setup, watch, f"HA-LATENCY-{index:04d}") for index in range(count)
            ]
        finally:
            listener.cancel()
            await ws.close()
        return warm_up, [await gateway_view(session, setup, sample) for sample in samples]


def _overran(signum: int, frame: FrameType | None) -> None:
    raise LatencyBenchError("the benchmark ran over its time bound; stopping everything")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ha_latency", description=__doc__)
    parser.add_argument("--requests", type=int, default=30, help="timed requests (1-500)")
    parser.add_argument("--out", type=Path, help="keep the processes' data and logs here")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 500:
        parser.error("--requests must be from 1 to 500")
    if args.out is not None and args.out.exists():
        parser.error(f"{args.out} exists; give a new folder")
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="ha-latency-"))
    servers: list[Server] = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGALRM, _overran)
    signal.alarm(SETUP_BOUND_S + args.requests * int(PER_REQUEST_TIMEOUT_S + 5))
    before = machine_note()
    try:
        setup = start_everything(out, servers)
        warm_up, samples = asyncio.run(measure(setup, args.requests))
    except (DemoError, CityError, aiohttp.ClientError) as err:
        print(f"ha_latency: FAILED: {err}", file=sys.stderr)
        print(f"  logs kept in {out / 'logs'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ha_latency: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        # Home Assistant first, so it does not log the gateway leaving; the city last, so
        # the gateway does not log losing it.
        for server in servers[:1] + servers[:0:-1]:
            server.stop()
    missed = print_report(warm_up, samples, setup.ha_version, before, machine_note())
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
