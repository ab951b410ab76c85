"""The reference city and an enrolled gateway with cameras, as real processes on loopback.

Used by the demo, the benchmarks and the end-to-end tests: each step goes through the
console scripts a resident and a city would use (`safesmart-city`, `safesmart-gateway`).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.timeutil import format_time, utcnow

from .processes import DemoError, Server, free_port, run, start_server


def _console_scripts() -> Path:
    """Beside this interpreter, or in the repo's .venv (when run from Home Assistant's)."""
    here = Path(sys.executable).parent
    if (here / "safesmart-gateway").exists():
        return here
    return Path(__file__).resolve().parents[1] / ".venv" / "bin"


BIN = _console_scripts()
CITY, GATEWAY = str(BIN / "safesmart-city"), str(BIN / "safesmart-gateway")


# Where the demo's home is (Cleveland): its cameras, the benchmarks' and the end-to-end tests'.
HOME = (41.49932, -81.69436)


@dataclass(frozen=True)
class CameraSpec:
    """A camera to register: its id in the folder source, its name and exact location."""

    device: str
    name: str
    lat: float
    lon: float
    masks: tuple[str, ...] = ()


def call_json(base_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """One bearer-token HTTP call; JSON answers are decoded, anything else returned as bytes."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        base_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        raw = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(raw)
        return raw


def field_of(output: str, name: str) -> str:
    """The value of a `name: value` line printed by a CLI (a trailing "(note)" dropped)."""
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].split("(")[0].strip()
    raise DemoError(f"no {name!r} in:\n{output}")


@dataclass
class Stack:
    """A running city, an enrolled gateway (started with `start_gateway`) and their folders."""

    out: Path
    city: Server
    fingerprint: str
    gateway: Server | None = None
    servers: list[Server] = field(default_factory=list)
    gateway_starts: int = 0

    @property
    def city_data(self) -> Path:
        return self.out / "city"

    @property
    def gateway_data(self) -> Path:
        return self.out / "gateway"

    @property
    def gateway_cli(self) -> list[str]:
        return [GATEWAY, "--data", str(self.gateway_data)]

    @property
    def admin_token(self) -> str:
        return (self.city_data / "admin-token").read_text().strip()

    @property
    def api_token(self) -> str:
        return (self.gateway_data / "api-token").read_text().strip()

    def start_gateway(self, *options: str) -> Server:
        """Start (or restart) `safesmart-gateway serve` on a free loopback port."""
        port = free_port()
        self.gateway_starts += 1
        suffix = "" if self.gateway_starts == 1 else f"-{self.gateway_starts}"
        self.gateway = start_server(
            "gateway",
            [*self.gateway_cli, "serve", "--listen", f"127.0.0.1:{port}", *options],
            port,
            self.out / "logs" / f"gateway{suffix}.log",
        )
        self.servers.append(self.gateway)
        return self.gateway

    def issue(self, body: dict[str, Any]) -> str:
        """Have the city issue a request through its admin API; the first request id."""
        answer = call_json(self.city.url, self.admin_token, "POST", "/v1/admin/requests", body)
        return str(answer["requests"][0]["request_id"])

    def gateway_api(self, method: str, path: str, body: Any = None) -> Any:
        if self.gateway is None:
            raise DemoError("the gateway is not running")
        return call_json(self.gateway.url, self.api_token, method, path, body)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def start_stack(
    out: Path,
    footage: Path,
    cameras: Sequence[CameraSpec],
    city_name: str = "Demo City",
    home_name: str = "Demo home",
) -> Stack:
    """Start the city, enroll a new gateway in `out` and register `cameras` on `footage`."""
    city_data = out / "city"
    run([CITY, "init", "--data", str(city_data), "--name", city_name], "city init")
    port = free_port()
    city = start_server(
        "city endpoint",
        [CITY, "serve", "--data", str(city_data), "--listen", f"127.0.0.1:{port}"],
        port,
        out / "logs" / "city.log",
    )
    issued = run([CITY, "enroll-code", "--data", str(city_data)], "enrollment code")
    stack = Stack(out, city, field_of(issued, "fingerprint"), servers=[city])
    try:
        gw = stack.gateway_cli
        run([*gw, "init", "--name", home_name], "gateway init")
        run([*gw, "enroll", "--city", city.url, "--code", field_of(issued, "code"),
             "--expect-fingerprint", stack.fingerprint], "enrollment")  # fmt: skip
        run([*gw, "source", "add", "folder", "footage", "--path", str(footage)], "source add")
        for camera in cameras:
            masks = [arg for mask in camera.masks for arg in ("--mask", mask)]
            run([*gw, "camera", "add", "--name", camera.name, "--lat", str(camera.lat),
                 "--lon", str(camera.lon), "--source", "footage", "--device", camera.device,
                 *masks], f"camera add {camera.name}")  # fmt: skip
    except BaseException:
        stack.stop()
        raise
    return stack


def request_body(
    case: str, point: tuple[float, float], start: datetime, end: datetime
) -> dict[str, Any]:
    """What an investigator posts to the city's admin API for one footage request."""
    return {
        "case_number": case,
        "agency": {"name": "Cleveland Division of Police (demo)", "id": "cle-pd"},
        "officer": {"name": "Det. Demo", "badge": "0001", "email": "detective@city.example",
                    "phone": "+1 216 555 0100"},
        "incident": {"type": "burglary", "description": "Package taken from a porch",
                     "point": {"lat": point[0], "lon": point[1]}, "radius_m": 300},
        "window": {"start": format_time(start), "end": format_time(end)},
        "respond_by": format_time(utcnow() + timedelta(days=3)),
        "legal_basis": "voluntary",
        "disclosures": {"retention_days": 90, "may_become_public_record": True,
                        "may_be_asked_to_testify": False,
                        "name_may_appear_in_court_documents": False,
                        "notes": "Footage is kept 90 days unless it becomes evidence."},
    }  # fmt: skip
