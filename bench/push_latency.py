"""Push latency: a request issued at the city → visible in the gateway's SSE stream.

Starts the real city (`safesmart-city serve`) and the real gateway (`safesmart-gateway serve`)
as processes on 127.0.0.1, enrolls the gateway, registers one camera, then issues N requests
one at a time through the city's admin API and times each until the gateway's event stream
shows it. Prints one JSON object (median, p95, max in milliseconds).

    .venv/bin/python bench/push_latency.py --requests 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from gateway.sources.registry import SourceRegistry
from protocol.timeutil import format_time, utcnow

BIN = Path(sys.executable).parent
CITY, GATEWAY = str(BIN / "safesmart-city"), str(BIN / "safesmart-gateway")
INCIDENT = {"lat": 41.4994, "lon": -81.6944}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result.stdout


async def wait_http(url: str, headers: dict[str, str] | None = None) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            try:
                async with session.get(url, headers=headers) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def request_body(case: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "case_number": case,
        "agency": {"name": "Bench Police", "id": "bench-pd"},
        "officer": {"name": "Det. Bench", "badge": "1", "email": "b@city.example", "phone": ""},
        "incident": {"type": "burglary", "description": "bench", "point": INCIDENT,
                     "radius_m": 300},
        "window": {"start": format_time(now - timedelta(hours=2)),
                   "end": format_time(now - timedelta(hours=1, minutes=45))},
        "respond_by": format_time(now + timedelta(days=1)),
        "legal_basis": "voluntary",
        "disclosures": {"retention_days": 30, "may_become_public_record": False,
                        "may_be_asked_to_testify": False,
                        "name_may_appear_in_court_documents": False, "notes": ""},
    }  # fmt: skip


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
            for _ in range(200):   # until the gateway's long-poll is connected
                health = await (await session.get(f"{api_url}/api/v1/health", headers=auth)).json()
                if health["city"] and health["city"]["connected"]:
                    break
                await asyncio.sleep(0.05)
            for index in range(count):
                case = f"BENCH-{index:04d}"
                seen[case] = asyncio.get_running_loop().create_future()
                started = time.perf_counter()
                async with session.post(f"{city_url}/v1/admin/requests", json=request_body(case),
                                        headers={"Authorization": f"Bearer {admin}"}) as answer:
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
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
        root = Path(tmp)
        city_data, gw_data, footage = root / "city", root / "gateway", root / "footage"
        (footage / "front").mkdir(parents=True)
        city_port, api_port = free_port(), free_port()
        city_url, api_url = f"http://127.0.0.1:{city_port}", f"http://127.0.0.1:{api_port}"
        try:
            run(CITY, "init", "--data", str(city_data), "--name", "Bench City")
            procs.append(subprocess.Popen(  # noqa: S603
                [CITY, "serve", "--data", str(city_data), "--listen", f"127.0.0.1:{city_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            asyncio.run(wait_http(f"{city_url}/v1/transparency"))
            issued = run(CITY, "enroll-code", "--data", str(city_data))
            code = re.search(r"code:\s+(\S+)", issued)
            fingerprint = re.search(r"fingerprint:\s+([0-9a-f ]+?)\s{2}", issued)
            assert code and fingerprint, issued
            run(GATEWAY, "--data", str(gw_data), "init")
            SourceRegistry(gw_data).add("folder", "yard", root=str(footage))
            run(GATEWAY, "--data", str(gw_data), "enroll", "--city", city_url,
                "--code", code.group(1), "--expect-fingerprint", fingerprint.group(1))
            run(GATEWAY, "--data", str(gw_data), "camera", "add", "--name", "Front", "--lat",
                "41.4990", "--lon", "-81.6940", "--source", "yard", "--device", "front")
            procs.append(subprocess.Popen(  # noqa: S603
                [GATEWAY, "--data", str(gw_data), "serve", "--listen", f"127.0.0.1:{api_port}",
                 "--profile", "masks-only"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            token = (gw_data / "api-token").read_text().strip()
            asyncio.run(wait_http(f"{api_url}/api/v1/health", {"Authorization": f"Bearer {token}"}))
            admin = (city_data / "admin-token").read_text().strip()
            latencies = asyncio.run(measure(city_url, admin, api_url, token, args.requests))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=20)
    ms = [1000 * value for value in latencies]
    print(json.dumps({
        "requests": len(ms), "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1), "max_ms": round(max(ms), 1),
        "min_ms": round(min(ms), 1), "target_median_ms": 1000, "cpus": os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
