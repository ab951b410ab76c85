"""`safesmart-gateway` smoke tests through real subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import DataLayout
from gateway.sources.registry import SourceRegistry
from gateway.store import GatewayStore
from protocol.signing import display_fingerprint, key_id

from .city_double import ENROLL_CODE
from .service_harness import CityServer, city

__all__ = ["city"]


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "gateway", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def arun(data: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop (the test city answers from this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--data",
        str(data),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_init_keeps_secrets_private(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    result = run(data, "init", "--name", "Home")
    assert result.returncode == 0, result.stderr
    layout = DataLayout(data)
    token = layout.api_token.read_text().strip()
    assert "Device key fingerprint:" in result.stdout and str(layout.api_token) in result.stdout
    assert token not in result.stdout + result.stderr
    assert layout.device_key.stat().st_mode & 0o777 == 0o600
    assert layout.api_token.stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    again = run(data, "init", "--show-token")
    assert again.returncode == 0 and f"API token: {token}" in again.stdout
    assert "Found the gateway" in again.stdout
    rotated = run(data, "token", "--rotate")
    assert rotated.returncode == 0 and layout.api_token.read_text().strip() != token
    assert layout.api_token.read_text().strip() not in rotated.stdout


def test_commands_need_an_initialised_folder(tmp_path: Path) -> None:
    result = run(tmp_path / "empty", "camera", "list")
    assert result.returncode == 2 and "run `safesmart-gateway init" in result.stderr


def test_serve_refuses_a_public_address(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    run(data, "init")
    result = run(data, "serve", "--listen", "0.0.0.0:8765")
    assert result.returncode == 2 and "--allow-remote" in result.stderr


@pytest.mark.parametrize("limit", ["0", "-3", "nan", "ten"])
def test_serve_refuses_a_time_limit_that_is_not_a_positive_number(
    tmp_path: Path, limit: str
) -> None:
    data = tmp_path / "gw"
    run(data, "init")
    result = run(data, "serve", "--redaction-time-limit", limit)
    assert result.returncode == 2 and "--redaction-time-limit" in result.stderr, result.stderr


def test_requests_without_a_running_gateway(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    run(data, "init")
    GatewayStore(DataLayout(data).db).set_setting("api_url", "http://127.0.0.1:9")
    result = run(data, "requests", "list")
    assert result.returncode == 2 and "not running" in result.stderr


def test_status_of_a_gateway_not_set_up_enrolled_or_running(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    result = run(data, "status")
    assert result.returncode == 2 and "safesmart-gateway init" in result.stderr
    run(data, "init", "--name", "Maple St")
    GatewayStore(DataLayout(data).db).set_setting("api_url", "http://127.0.0.1:9")
    result = run(data, "status")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"Gateway: Maple St ({data})",
        "City: not enrolled",
        "Cameras: none",
        "Running: no",
        "Needs attention: not enrolled with a city: ask your city for an enrollment code and run "
        "`safesmart-gateway enroll`",
        "Needs attention: the gateway is not running (start it with `safesmart-gateway serve`)",
    ]
    report = json.loads(run(data, "status", "--json").stdout)
    assert (report["running"], report["city"], report["health"]) == (False, None, None)
    assert len(report["problems"]) == 2


def test_audit_verify_on_a_fresh_gateway(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    run(data, "init")
    result = run(data, "audit", "verify")
    assert result.returncode == 0 and "intact" in result.stdout
    export = run(data, "audit", "export", str(tmp_path / "log.jsonl"))
    assert export.returncode == 0 and (tmp_path / "log.jsonl").exists()


async def test_enroll_and_cameras(tmp_path: Path, city: CityServer) -> None:
    data = tmp_path / "gw"
    assert (await arun(data, "init"))[0] == 0
    wrong = "0000 1111 2222 3333"
    code, _, err = await arun(
        data, "enroll", "--city", city.url, "--code", ENROLL_CODE, "--expect-fingerprint", wrong
    )
    assert code == 2 and "not the one you expected" in err
    assert GatewayStore(DataLayout(data).db).pinned_city() is None
    fingerprint = display_fingerprint(key_id(city.double.signing.public_key()))
    code, out, err = await arun(
        data,
        "enroll",
        "--city",
        city.url,
        "--code",
        ENROLL_CODE,
        "--expect-fingerprint",
        fingerprint,
    )
    assert code == 0, err
    assert f"City key fingerprint: {fingerprint}" in out

    add = ("camera", "add", "--name", "Front door", "--lat", "41.499312", "--lon", "-81.694412",
           "--source", "yard", "--device", "front")  # fmt: skip
    code, _, err = await arun(data, *add)
    assert code == 2 and "no footage source named 'yard'" in err and not city.double.cameras
    (tmp_path / "footage").mkdir()
    SourceRegistry(data).add("folder", "yard", root=str(tmp_path / "footage"))
    code, out, err = await arun(data, *add, "--mask", "0,0 0.3,0 0.3,0.2")
    assert code == 0, err
    assert "about a block" in out
    [(rid, registered)] = city.double.cameras.items()
    location = registered["body"]["location"]
    assert location["precision"] == "block"
    assert location["point"] != {"lat": 41.499312, "lon": -81.694412}
    code, out, _ = await arun(
        data,
        "camera",
        "add",
        "--name",
        "Porch",
        "--lat",
        "41.5",
        "--lon",
        "-81.7",
        "--exact-location",
        "--source",
        "yard",
        "--device",
        "porch",
        "--mask",
        "0,0 1,1",
    )
    assert code == 2 and len(city.double.cameras) == 1  # a 2-point mask is refused
    porch = ("camera", "add", "--name", "Porch", "--lat", "41.5", "--lon", "-81.7",
             "--source", "yard", "--device", "porch")  # fmt: skip
    code, _, err = await arun(data, *porch, "--mask", "0,0 1,0 0,1 1,1")  # a bow tie
    assert code == 2 and "edges 2 and 4 cross" in err and len(city.double.cameras) == 1
    code, out, _ = await arun(data, "camera", "list")
    assert code == 0 and "Front door" in out and rid in out and "1 mask(s)" in out
    code, out, err = await arun(data, "camera", "remove", "Front door")
    assert code == 0, err
    assert city.double.cameras == {}
    kinds = [line for line in (await arun(data, "audit", "verify"))[1].splitlines()]
    assert "intact" in kinds[0]


def test_caps_can_be_tightened_not_loosened(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    assert run(data, "init").returncode == 0
    shown = run(data, "caps")
    assert "over 12 h or the radius over 800 m" in shown.stdout
    tightened = run(data, "caps", "--max-window-hours", "2", "--max-radius-m", "250")
    assert tightened.returncode == 0 and "over 2 h or the radius over 250 m" in tightened.stdout
    for loosen in (
        ["--max-window-hours", "13"],
        ["--max-radius-m", "900"],
        ["--max-radius-m", "0"],
    ):
        refused = run(data, "caps", *loosen)
        assert refused.returncode == 2 and "tighten the caps, not loosen" in refused.stderr
    caps = GatewayStore(DataLayout(data).db).caps()
    assert caps.max_window.total_seconds() == 2 * 3600 and caps.max_radius_m == 250


def test_commands_load_only_what_they_use(tmp_path: Path) -> None:
    # Ring, Nest, the HTTP client and the video stack cost about a second to import; commands
    # that do not use them (`redact` among them, which loads only the pipeline) start without.
    heavy = ["aiohttp", "ring_doorbell", "google_nest_sdm", "onnxruntime", "cv2", "av", "numpy"]
    probe = (
        "import sys\n"
        "from gateway.cli import build_parser\n"
        "args = build_parser().parse_args(sys.argv[1:])\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    for argv, expected in [
        (["token"], ""),
        (["redact", "in.mp4", "out.mp4", "--mask", "0,0 1,0 1,1"], ""),
    ]:
        done = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-c", probe, "--data", str(tmp_path), *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert done.stdout.strip() == expected, argv
    # ... and the handler loads what it needs: a folder source lists through the registry.
    assert run(tmp_path, "init").returncode == 0
    footage = tmp_path / "footage"
    footage.mkdir()
    added = run(tmp_path, "source", "add", "folder", "yard", "--path", str(footage))
    assert added.returncode == 0, added.stderr
    assert "yard" in run(tmp_path, "source", "list").stdout
