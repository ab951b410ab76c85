"""Push latency: a request issued at the city → visible in the gateway's SSE stream.

Starts the real city (`safesmart-city serve`) and the real gateway (`safesmart-gateway serve`)
as processes on 127.0.0.1, enrolls the gateway, registers one camera, then issues N requests
one at a time through the city's admin API and times each until the gateway's event stream
shows it. Prints one JSON object (median, p95, max in milliseconds).

    .venv/bin/python -m bench.push_latency --requests 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from demo.stack import CameraSpec, request_body, start_stack
from protocol.timeutil import utcnow

INCIDENT = (41.4994, -81.6944)


def body(case: str) -> dict[str, Any]:
    """A request whose window ended long ago (no footage needed: the gateway only shows it)."""
    now = utcnow()
    return request_body(
        case, INCIDENT, now - timedelta(hours=2), now - timedelta(hours=1, minutes=45)
    )


async def measure(city_url: str, admin: str, api_url: str, token: str, count: int) -> list[float]:
    latencies: list[float] = []
    seen: dict[str, asyncio.Future[float]] = {}
    auth = {"Authorization": f"Bearer {token}"}

    async def listen(stream: aiohttp.ClientResponse) -> None:
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: ") and '"case_number"' in line:
                case = json.loads(line[6:])["case_number"]
                future = seen.get(case)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api_url}/api/v1/events", headers=auth) as stream:
            listener = asyncio.ensure_future(listen(stream))
            for _ in range(200):  # until the gateway's long-poll is connected
                health = await (await session.get(f"{api_url}/api/v1/health", headers=auth)).json()
                if health["city"] and health["city"]["connected"]:
                    break
                await asyncio.sleep(0.05)
            for index in range(count):
                case = f"BENCH-{index:04d}"
                seen[case] = asyncio.get_running_loop().create_future()
                started = time.perf_counter()
                async with session.post(
                    f"{city_url}/v1/admin/requests",
                    json=body(case),
                    headers={"Authorization": f"Bearer {admin}"},
                ) as answer:
                    if answer.status >= 300:
                        raise SystemExit(f"issuing failed: {answer.status} {await answer.text()}")
                arrived = await asyncio.wait_for(seen[case], 30)
                latencies.append(arrived - started)
            listener.cancel()
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
        root = Path(tmp)
        (root / "footage" / "front").mkdir(parents=True)
        camera = CameraSpec("front", "Front", 41.4990, -81.6940)
        stack = start_stack(root, root / "footage", [camera], city_name="Bench City")
        try:
            gateway = stack.start_gateway("--profile", "masks-only")
            latencies = asyncio.run(
                measure(stack.city.url, stack.admin_token, gateway.url, stack.api_token,
                        args.requests)
            )  # fmt: skip
        finally:
            stack.stop()
    ms = [1000 * value for value in latencies]
    print(
        json.dumps(
            {
                "requests": len(ms),
                "median_ms": round(statistics.median(ms), 1),
                "p95_ms": round(percentile(ms, 0.95), 1),
                "max_ms": round(max(ms), 1),
                "min_ms": round(min(ms), 1),
                "target_median_ms": 1000,
                "cpus": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
