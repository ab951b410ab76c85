"""The whole service as a subprocess: only one loopback listening socket, push from the city to
the SSE stream, clean shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from demo.processes import descendants
from gateway.config import DataLayout
from gateway.sources.registry import SourceRegistry
from gateway.store import GatewayStore

from .service_harness import CityServer, Gateway, city, gateway
from .sources.conftest import write_clip
from .test_feed import envelope, fresh_request

__all__ = ["city", "gateway"]
_LISTEN = "0A"


def listening_sockets(pid: int) -> list[str]:
    """Local addresses ("ip:port") of TCP sockets in LISTEN state owned by `pid`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, v6 in (("tcp", False), ("tcp6", True)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN and fields[9] in inodes:
                found.append(_address(fields[1], v6))
    return found


def _address(text: str, v6: bool) -> str:
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    if v6:
        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
        import ipaddress

        host = str(ipaddress.IPv6Address(b"".join(words)))
    else:
        host = ".".join(str(b) for b in raw[::-1])
    return f"{host}:{int(port_hex, 16)}"


@pytest.fixture
async def served(gateway: Gateway) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--data", str(gateway.layout.root), "serve",
        "--listen", "127.0.0.1:0", "--feed-wait", "5", "--redaction-time-limit", "2.5",
        stderr=asyncio.subprocess.PIPE,
    )
    store = GatewayStore(gateway.layout.db)
    url = None
    for _ in range(300):
        url = store.get_setting("api_url")
        if url:
            break
        await asyncio.sleep(0.05)
    assert url, "the gateway did not start"
    try:
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_only_a_loopback_listener(served: tuple[asyncio.subprocess.Process, str]) -> None:
    proc, url = served
    await asyncio.sleep(0.5)           # give every task (feed, uploads, workers) time to start
    pids = [proc.pid, *descendants(proc.pid)]
    sockets = [addr for pid in pids for addr in listening_sockets(pid)]
    assert sockets == [url.removeprefix("http://")]
    assert sockets[0].startswith("127.0.0.1:")


async def test_push_reaches_the_event_stream_then_sigterm(
    served: tuple[asyncio.subprocess.Process, str], city: CityServer, gateway: Gateway
) -> None:
    proc, url = served
    token = DataLayout(gateway.layout.root).api_token.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/v1/events", headers=headers) as stream:
            assert await asyncio.wait_for(stream.content.readline(), 10) == b": connected\n"
            for _ in range(200):   # wait until the feed loop is connected
                health = await (await session.get(f"{url}/api/v1/health", headers=headers)).json()
                if health["city"]["connected"]:
                    break
                await asyncio.sleep(0.05)
            request = fresh_request(gateway)
            await city.double.push(envelope(city.double.signing, request))
            event = None
            while event is None:
                line = await asyncio.wait_for(stream.content.readline(), 10)
                if line.startswith(b"data: ") and b'"approval_nonce"' in line:
                    event = json.loads(line[6:])
            assert event["id"] == request.request_id and event["state"] == "pending"
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    assert "shutting down" in log
    assert ("a redaction is stopped as hung after 120 s without progress, or after 120 s plus 2.5 "
            "s per second of clip") in log
    assert token not in log and str(gateway.layout.root) not in log


async def test_cli_answers_requests_through_the_running_gateway(
    served: tuple[asyncio.subprocess.Process, str], city: CityServer, gateway: Gateway
) -> None:
    from .test_cli import arun

    data = gateway.layout.root
    request, other = fresh_request(gateway), fresh_request(gateway)
    await city.double.push(envelope(city.double.signing, request))
    await city.double.push(envelope(city.double.signing, other))
    for _ in range(200):
        code, out, _ = await arun(data, "requests", "list", "--state", "pending")
        if request.request_id in out and other.request_id in out:
            break
        await asyncio.sleep(0.1)
    assert code == 0 and request.case_number in out
    code, out, _ = await arun(data, "requests", "show", request.request_id)
    assert code == 0 and "may become a public record" in out
    code, _, err = await arun(data, "requests", "approve", request.request_id,
                              "--camera", "reg-not-ours")
    assert code == 2 and "422" in err
    code, out, _ = await arun(data, "requests", "decline", request.request_id)
    assert code == 0 and "not told who declined" in out
    code, _, err = await arun(data, "requests", "approve", request.request_id)
    assert code == 2 and "409" in err
    code, _, err = await arun(data, "requests", "show", "no-such-id")
    assert code == 2 and "404" in err
    assert city.double.replies == []


async def test_status_says_what_needs_the_resident(
    served: tuple[asyncio.subprocess.Process, str], city: CityServer, gateway: Gateway
) -> None:
    from .test_cli import arun

    data = gateway.layout.root

    async def status_until(text: str) -> tuple[int, str]:
        for _ in range(150):  # the gateway polls the city every 5 s here: at most 15 s
            code, out, err = await arun(data, "status")
            if text in out:
                return code, out
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} never shown:\n{out}{err}")

    code, out = await status_until("City connection: connected")
    assert code == 0 and out.endswith("All is well.\n"), out
    assert "Cameras: 2 registered" in out and "Requests: none" in out
    assert f"City: {gateway.city.name} at {city.url}, key {gateway.city.fingerprint}" in out

    request = fresh_request(gateway)
    await city.double.push(envelope(city.double.signing, request))
    code, out = await status_until("Requests: 1 pending")
    assert code == 1
    assert ("Needs attention: 1 request(s) waiting for your answer; see `safesmart-gateway "
            "requests list --state pending`") in out
    # Approved, it fails: the cameras' source has no footage folder here.
    assert (await arun(data, "requests", "approve", request.request_id))[0] == 0
    code, out = await status_until("Requests: 1 failed")
    assert code == 1
    assert ("Needs attention: 1 request(s) failed (`requests retry ID`); see `safesmart-gateway "
            "requests list --state failed`") in out

    city.double.gateways.clear()  # the city revokes the enrollment: its feed answers 401
    code, out = await status_until("City connection: lost")
    assert code == 1
    assert "Needs attention: the gateway cannot reach its city (the city refused the request " \
        "(401)" in out  # fmt: skip
    code, out, _ = await arun(data, "status", "--json")
    report = json.loads(out)
    assert code == 1 and report["running"] and report["requests"] == {"failed": 1}
    assert "(401)" in report["health"]["city"]["error"]
    assert report["cameras"] == {"registered": 2}


def holding_onnxruntime(pids: list[int]) -> list[int]:
    """Those of `pids` with the face model's runtime loaded."""
    found = []
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:  # it ended while we looked
            continue
        if "onnxruntime" in maps:
            found.append(pid)
    return found


async def test_an_idle_gateway_keeps_none_of_a_redaction_once_it_is_done(
    served: tuple[asyncio.subprocess.Process, str], city: CityServer, gateway: Gateway,
    tmp_path: Path,
) -> None:
    # What a redaction loads (its libraries, their heaps, the segments' fork server: about
    # 500 MiB after an 8 s window at 720p, bench.redaction.idle) goes with the worker that ran
    # it, not kept until the next request, days later.
    proc, url = served
    request = fresh_request(gateway)
    start = request.window.start - timedelta(seconds=1)
    write_clip(tmp_path / "footage" / "front door" / f"front_{start:%Y%m%d_%H%M%S}.mp4", 3.0)
    SourceRegistry(gateway.layout.root).add("folder", "yard", root=str(tmp_path / "footage"))
    token = DataLayout(gateway.layout.root).api_token.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    await city.double.push(envelope(city.double.signing, request))
    preview = None
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(1200):
            async with session.get(f"{url}/api/v1/requests/{request.request_id}") as answer:
                if answer.status == 200:
                    preview = (await answer.json())["preview"]["status"]
                    if preview in ("ready", "failed"):
                        break
            await asyncio.sleep(0.05)
    assert preview == "ready"
    for _ in range(200):
        if not holding_onnxruntime([proc.pid, *descendants(proc.pid)]):
            break
        await asyncio.sleep(0.05)
    assert holding_onnxruntime([proc.pid, *descendants(proc.pid)]) == []
    assert descendants(proc.pid)  # a worker waits for the next job


@pytest.mark.parametrize("profile", ["standard", "masks-only"])  # masks-only: checked anyway
async def test_a_bad_model_file_stops_the_gateway_before_it_listens(
    gateway: Gateway, tmp_path: Path, profile: str
) -> None:
    bad = tmp_path / "plates.xml"
    bad.write_text("<not a cascade/>")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--data", str(gateway.layout.root), "serve",
        "--listen", "127.0.0.1:0", "--profile", profile, "--plate-model", str(bad),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 2
    assert ("error: cannot redact with the model files given: The licence-plate model is not "
            "an OpenCV cascade file") in err.decode()
    assert GatewayStore(gateway.layout.db).get_setting("api_url") is None
