"""End to end with the real city endpoint and gateway as processes on loopback (no fakes)."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockUser, async_capture_events

from custom_components.safesmart.client import RequestState
from custom_components.safesmart.const import CONF_ALLOWED_USERS, DOMAIN, EVENT_FOOTAGE_REQUEST
from demo.processes import Server, free_port, run, start_server

from .fake_gateway import wait_for

BIN = Path(__file__).resolve().parents[3] / ".venv" / "bin"
CITY, GATEWAY = str(BIN / "safesmart-city"), str(BIN / "safesmart-gateway")
HOME = (41.49932, -81.69436)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CITY).exists() and Path(GATEWAY).exists()),
        reason="the gateway environment (.venv, scripts/setup) is not built",
    ),
]


def _field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].split("(")[0].strip()
    raise AssertionError(f"no {name!r} in {output!r}")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def real_servers(tmp_path: Path) -> Generator[dict[str, str]]:
    """An enrolled gateway with one camera, and its city, both serving on 127.0.0.1."""
    city_data, gw_data = tmp_path / "city", tmp_path / "gateway"
    gw = [GATEWAY, "--data", str(gw_data)]
    servers: list[Server] = []
    try:
        run([CITY, "init", "--data", str(city_data), "--name", "City of Test"], "city init")
        city_port = free_port()
        servers.append(
            start_server(
                "city",
                [CITY, "serve", "--data", str(city_data), "--listen", f"127.0.0.1:{city_port}"],
                city_port,
                tmp_path / "city.log",
            )
        )
        issued = run([CITY, "enroll-code", "--data", str(city_data)], "enrollment code")
        run([*gw, "init", "--name", "Test home"], "gateway init")
        run(
            [*gw, "enroll", "--city", servers[0].url, "--code", _field(issued, "code"),
             "--expect-fingerprint", _field(issued, "fingerprint")],
            "enroll",
        )  # fmt: skip
        (tmp_path / "footage" / "front").mkdir(parents=True)
        run([*gw, "source", "add", "folder", "f", "--path", str(tmp_path / "footage")], "source")
        run(
            [*gw, "camera", "add", "--name", "Front door", "--lat", str(HOME[0]),
             "--lon", str(HOME[1]), "--source", "f", "--device", "front"],
            "camera add",
        )  # fmt: skip
        gw_port = free_port()
        servers.append(
            start_server(
                "gateway",
                [*gw, "serve", "--listen", f"127.0.0.1:{gw_port}", "--no-advertise"],
                gw_port,
                tmp_path / "gateway.log",
            )
        )
        yield {
            "url": servers[1].url,
            "token": (gw_data / "api-token").read_text().strip(),
            "city_url": servers[0].url,
            "city_data": str(city_data),
            "request_file": str(tmp_path / "request.json"),
        }
    finally:
        for server in reversed(servers):
            server.stop()


def _issue_request(servers: dict[str, str]) -> str:
    """Have the city sign and issue a request for the camera; return its id."""
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "case_number": "2026-E2E-0001",
        "agency": {"name": "Test Police", "id": "test-pd"},
        "officer": {"name": "Det. Test", "badge": "1", "email": "det@city.example",
                    "phone": "+1 216 555 0100"},
        "incident": {"type": "burglary", "description": "Porch package taken",
                     "point": {"lat": HOME[0] + 0.001, "lon": HOME[1]}, "radius_m": 300},
        "window": {"start": _time(now - timedelta(minutes=40)),
                   "end": _time(now - timedelta(minutes=25))},
        "respond_by": _time(now + timedelta(days=3)),
        "legal_basis": "subpoena",
        "disclosures": {"retention_days": 30, "may_become_public_record": False,
                        "may_be_asked_to_testify": True,
                        "name_may_appear_in_court_documents": False, "notes": ""},
    }  # fmt: skip
    Path(servers["request_file"]).write_text(json.dumps(body))
    answer = run(
        [CITY, "request", "--data", servers["city_data"], "--url", servers["city_url"],
         "--json", servers["request_file"]],
        "issuing the request",
    )  # fmt: skip
    return str(json.loads(answer)["requests"][0]["request_id"])


async def test_real_city_and_gateway(
    hass: HomeAssistant,
    socket_enabled: None,
    real_servers: dict[str, str],
    hass_admin_user: MockUser,
) -> None:
    """Config flow, a signed request as an event, decline by action, approve from a phone."""
    admin = hass_admin_user
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: real_servers["url"], CONF_TOKEN: real_servers["token"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Test home"
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("binary_sensor.test_home_city_connection") is not None
    assert hass.states.get("sensor.front_door_registration").state == "registered"

    events = async_capture_events(hass, EVENT_FOOTAGE_REQUEST)
    request_id = await hass.async_add_executor_job(_issue_request, real_servers)
    await wait_for(lambda: len(events) == 1, limit_s=60)
    data = events[0].data
    assert data["request_id"] == request_id
    assert data["legal_basis"] == "subpoena"
    assert data["window_minutes"] == 15
    assert data["disclosures"]["may_be_asked_to_testify"] is True
    assert data["cameras"][0]["name"] == "Front door"
    assert 90 < data["min_distance_m"] < 130
    assert hass.states.get("sensor.test_home_pending_requests").state == "1"

    await hass.services.async_call(DOMAIN, "decline", {"request_id": request_id}, blocking=True)
    await wait_for(
        lambda: (
            hass.states.get("event.test_home_footage_request").attributes.get("event_type")
            == "declined"
        )
    )
    assert hass.states.get("sensor.test_home_pending_requests").state == "0"

    # A second request, approved from a phone with the nonce the real gateway made.
    hass.config_entries.async_update_entry(entry, options={CONF_ALLOWED_USERS: [admin.id]})
    request_id = await hass.async_add_executor_job(_issue_request, real_servers)
    await wait_for(lambda: len(events) == 2, limit_s=60)
    request = entry.runtime_data.data.requests[request_id]
    assert len(request.approval_nonce) == 43
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": f"SAFESMART_APPROVE_{request_id}_{request.approval_nonce}"},
        context=Context(user_id=admin.id),
    )
    await wait_for(
        lambda: entry.runtime_data.data.requests[request_id].state is not RequestState.PENDING
    )
    assert entry.runtime_data.data.requests[request_id].decided_by == "resident"

    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.test_home_privacy_mode"}, blocking=True
    )
    assert hass.states.get("switch.test_home_privacy_mode").state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
