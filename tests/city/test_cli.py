"""`safesmart-city` as a resident's city would run it: init, serve, enroll, request, inspect."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from demo.processes import free_port
from protocol.httpauth import sign_http_request
from protocol.registration import CameraLocation, CameraRegistration, LocationPrecision
from protocol.signing import Domain, encode_public_key, sign

from .conftest import CENTRE, issue_body

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own console script)
        [sys.executable, "-m", "city.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def _wait_until_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(100):
        try:
            async with session.get(url + "/v1/transparency") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up within 10 s")


async def _signed(
    session: aiohttp.ClientSession, url: str, key: Ed25519PrivateKey, gateway_id: str,
    method: str, path: str, payload: object = None,
) -> Any:  # fmt: skip
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = sign_http_request(key, gateway_id, method, path, hashlib.sha256(body).hexdigest())
    async with session.request(method, url + path, data=body or None, headers=headers) as response:
        assert response.status < 300, await response.text()
        return await response.json()


def test_serve_refuses_a_public_address(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert _cli("init", "--data", data, "--name", "Testville").returncode == 0
    refused = _cli("serve", "--data", data, "--listen", "0.0.0.0:8800")
    assert refused.returncode == 1
    assert "--allow-remote" in refused.stderr


def test_commands_need_an_initialised_folder(tmp_path: Path) -> None:
    result = _cli("enroll-code", "--data", str(tmp_path / "nothing"))
    assert result.returncode == 1 and "safesmart-city init" in result.stderr


async def _gateway_flow(url: str, data: str, fingerprint: str, request_file: Path) -> str:
    """Enroll, register a camera, long-poll the feed and issue a request through the CLI."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as session:
        await _wait_until_up(session, url)
        code_out = await asyncio.to_thread(_cli, "enroll-code", "--data", data)
        assert code_out.returncode == 0 and fingerprint in code_out.stdout
        code = code_out.stdout.split("code:")[1].split("\n")[0].strip()

        key = Ed25519PrivateKey.generate()
        enrollment = {"code": code, "device_key": encode_public_key(key.public_key()),
                      "label": "smoke"}  # fmt: skip
        async with session.post(url + "/v1/enroll", json=enrollment) as response:
            assert response.status == 201
            gateway_id = (await response.json())["body"]["gateway_id"]
        registration = CameraRegistration(
            gateway_id, "front", "Front door", CameraLocation(CENTRE, LocationPrecision.BLOCK)
        )
        envelope = sign(key, Domain.CAMERA_REGISTRATION, registration.to_json()).to_json()
        answer = await _signed(session, url, key, gateway_id, "POST", "/v1/cameras", envelope)
        registration_id: str = answer["registration_id"]

        feed = asyncio.create_task(
            _signed(session, url, key, gateway_id, "GET", "/v1/feed?cursor=0&wait=20")
        )
        issued = await asyncio.to_thread(
            _cli, "request", "--data", data, "--url", url, "--json", str(request_file)
        )
        assert issued.returncode == 0, issued.stdout + issued.stderr
        page = await asyncio.wait_for(feed, 20)
        assert [r["body"]["registration_ids"] for r in page["requests"]] == [[registration_id]]
        return registration_id


@pytest.mark.timeout(120)
def test_init_serve_enroll_request_smoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    init = _cli("init", "--data", data, "--name", "Testville")
    assert init.returncode == 0, init.stderr
    fingerprint = init.stdout.split("fingerprint:")[1].split("\n")[0].strip()
    assert len(fingerprint.split()) == 8
    assert os.stat(Path(data) / "admin-token").st_mode & 0o777 == 0o600
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(issue_body()))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    listen = f"127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "city.cli", "serve", "--data", data, "--listen", listen],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        registration_id = asyncio.run(_gateway_flow(url, data, fingerprint, request_file))
        search = _cli("search", "--data", data, "--lat", str(CENTRE.lat), "--lon",
                      str(CENTRE.lon), "--radius", "50")  # fmt: skip
        assert search.returncode == 0 and registration_id in search.stdout
        assert json.loads(_cli("uploads", "--data", data).stdout) == []
        assert _cli("verify", "no-such-upload", "--data", data).returncode == 1
        figures = json.loads(_cli("transparency", "--data", data).stdout)
        assert figures["requests_issued"]["total"] == 1
    finally:
        server.send_signal(signal.SIGINT)
        try:
            returncode = server.wait(timeout=15)
        finally:
            if server.poll() is None:
                server.kill()
    assert returncode == 0, server.stderr.read() if server.stderr else ""
