"""End to end with the real city endpoint and gateway as processes on loopback (no fakes)."""

from __future__ import annotations

import asyncio
import subprocess
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
from demo.stack import BIN, CITY, GATEWAY, HOME, CameraSpec, call_json, request_body, start_stack

from .fake_gateway import wait_for
from .helpers import state_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CITY).exists() and Path(GATEWAY).exists()),
        reason="the gateway environment (.venv, scripts/setup) is not built",
    ),
]


# The one clip in the camera's folder: two seconds, two hours ago (outside every request here).
CLIP_START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture
def real_servers(tmp_path: Path) -> Generator[dict[str, str]]:
    """An enrolled gateway with one camera, and its city, both serving on 127.0.0.1."""
    clip = tmp_path / "footage" / "front" / f"front_{CLIP_START:%Y%m%d_%H%M%S}.mp4"
    # Written by the gateway's environment: PyAV is not in Home Assistant's.
    subprocess.run(  # noqa: S603 - our own script
        [str(BIN / "python"), "-m", "demo.footage", str(clip), CLIP_START.isoformat(), "2"],
        check=True, cwd=Path(__file__).parents[3], timeout=60,
    )  # fmt: skip
    camera = CameraSpec("front", "Front door", *HOME)
    stack = start_stack(tmp_path, tmp_path / "footage", [camera], "City of Test", "Test home")
    try:
        gateway = stack.start_gateway("--no-advertise")
        yield {
            "url": gateway.url,
            "token": stack.api_token,
            "city_url": stack.city.url,
            "admin": stack.admin_token,
        }
    finally:
        stack.stop()


def _issue_request(servers: dict[str, str]) -> str:
    """Have the city sign and issue a request for the camera; return its id."""
    now = datetime.now(UTC).replace(microsecond=0)
    body = request_body(
        "2026-E2E-0001", (HOME[0] + 0.001, HOME[1]), now - timedelta(minutes=40),
        now - timedelta(minutes=25),
    )  # fmt: skip
    body["legal_basis"] = "subpoena"
    body["disclosures"]["may_be_asked_to_testify"] = True
    return str(call_json(servers["city_url"], servers["admin"], "POST",
                         "/v1/admin/requests", body)["requests"][0]["request_id"])  # fmt: skip


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
    assert state_of(hass, "sensor.front_door_registration").state == "registered"
    # The gateway reads its folder once it is serving: refreshed until it has (at most 5 s).
    for _ in range(50):
        if state_of(hass, "sensor.front_door_oldest_footage").state != "unknown":
            break
        await asyncio.sleep(0.1)
        await entry.runtime_data.async_refresh()
    oldest = state_of(hass, "sensor.front_door_oldest_footage").state
    newest = state_of(hass, "sensor.front_door_newest_footage").state
    assert (oldest, newest) == (CLIP_START.isoformat(),
                                (CLIP_START + timedelta(seconds=2)).isoformat())  # fmt: skip

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
    assert state_of(hass, "sensor.test_home_pending_requests").state == "1"

    await hass.services.async_call(DOMAIN, "decline", {"request_id": request_id}, blocking=True)
    await wait_for(
        lambda: (
            state_of(hass, "event.test_home_footage_request").attributes.get("event_type")
            == "declined"
        )
    )
    assert state_of(hass, "sensor.test_home_pending_requests").state == "0"

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
    assert state_of(hass, "switch.test_home_privacy_mode").state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
