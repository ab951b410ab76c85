"""Entities: snapshots per platform, and state changes pushed by the gateway."""

from __future__ import annotations

import copy
from unittest.mock import patch

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.safesmart.client import Request

from .fake_gateway import FakeGateway, wait_for
from .helpers import state_of

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"


@pytest.mark.parametrize(
    "platform", [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR, Platform.SWITCH]
)
async def test_platform_snapshots(
    hass: HomeAssistant,
    gateway: FakeGateway,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity's registry entry and state match the snapshot."""
    with patch("custom_components.safesmart.PLATFORMS", [platform]):
        mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await gateway.stream_opened.wait()
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


async def test_initial_states(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The snapshot read at start-up shows on the entities."""
    pending = state_of(hass, "sensor.home_gateway_pending_requests")
    assert pending.state == "1"
    assert pending.attributes["requests"] == [
        {
            "request_id": REQUEST_ID,
            "agency": "Cleveland Division of Police",
            "incident_type": "burglary",
            "respond_by": "2026-11-23T10:00:00+00:00",
        }
    ]
    assert "approval_nonce" not in str(pending.attributes)
    assert state_of(hass, "sensor.home_gateway_last_delivery").state == "unknown"
    assert state_of(hass, "binary_sensor.home_gateway_gateway").state == "on"
    assert state_of(hass, "binary_sensor.home_gateway_city_connection").state == "on"
    assert state_of(hass, "switch.home_gateway_privacy_mode").state == "off"
    assert state_of(hass, "sensor.front_door_registration").state == "registered"
    assert state_of(hass, "sensor.driveway_registration").state == "pending"
    assert state_of(hass, "sensor.front_door_oldest_footage").state == "2026-11-01T00:00:00+00:00"
    assert state_of(hass, "sensor.front_door_newest_footage").state == "2026-11-21T09:59:00+00:00"
    assert state_of(hass, "sensor.driveway_oldest_footage").state == "unknown"
    assert state_of(hass, "sensor.driveway_newest_footage").state == "unknown"


async def test_footage_span_follows_the_gateway(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A source's footage span moves at the next refresh; one the gateway cannot read goes
    unknown, and a dropped camera's sensors go with it."""
    coordinator = init_integration.runtime_data
    gateway.cameras[0] = dict(
        gateway.cameras[0], footage={"start": "2026-11-02T00:00:00Z", "end": "2026-11-22T08:00:00Z"}
    )
    gateway.cameras[1] = dict(
        gateway.cameras[1], footage={"start": "2026-11-20T06:00:00+01:00", "end": None}
    )
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.front_door_oldest_footage").state == "2026-11-02T00:00:00+00:00"
    assert state_of(hass, "sensor.front_door_newest_footage").state == "2026-11-22T08:00:00+00:00"
    assert state_of(hass, "sensor.driveway_oldest_footage").state == "2026-11-20T05:00:00+00:00"
    assert state_of(hass, "sensor.driveway_newest_footage").state == "unknown"

    gateway.cameras = gateway.cameras[1:]
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_newest_footage") is None


async def test_pushed_request_changes(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Request events from the stream move the event entity and the sensors."""
    request = copy.deepcopy(gateway.requests[REQUEST_ID])
    request.update(state="uploading", updated_at="2026-11-21T10:05:00Z", decided_by="resident")
    gateway.push_request(request)
    await wait_for(lambda: state_of(hass, "sensor.home_gateway_uploads_in_progress").state == "1")
    assert state_of(hass, "sensor.home_gateway_pending_requests").state == "0"
    # "uploading" is progress, not an outcome: no event.
    assert state_of(hass, "event.home_gateway_footage_request").state == "unknown"

    request = copy.deepcopy(request)
    request.update(state="delivered", updated_at="2026-11-21T10:09:00Z")
    gateway.push_request(request)
    await wait_for(lambda: state_of(hass, "sensor.home_gateway_last_delivery").state != "unknown")
    assert state_of(hass, "sensor.home_gateway_last_delivery").state == (
        "2026-11-21T10:09:00+00:00"
    )
    event = state_of(hass, "event.home_gateway_footage_request")
    assert event.attributes["event_type"] == "delivered"
    assert event.attributes["request_id"] == REQUEST_ID
    assert event.attributes["decided_by"] == "resident"
    assert state_of(hass, "sensor.home_gateway_uploads_in_progress").state == "0"


async def test_pushed_health_and_unknown_events(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Health events update connectivity, with why the city is out of reach; unknown event
    names are skipped; an older gateway's health without the reason still parses."""
    link = state_of(hass, "binary_sensor.home_gateway_city_connection")
    assert link.attributes["last_contact"] == "2026-11-21T09:59:30+00:00"
    assert link.attributes["error"] is None
    gateway.push("future-thing", {"x": 1})
    health = copy.deepcopy(gateway.health)
    health["city"]["connected"] = False
    health["city"]["error"] = "the city refused the request (403): enrollment revoked"
    gateway.push("health", health)
    await wait_for(
        lambda: state_of(hass, "binary_sensor.home_gateway_city_connection").state == "off"
    )
    link = state_of(hass, "binary_sensor.home_gateway_city_connection")
    assert link.attributes["error"] == "the city refused the request (403): enrollment revoked"
    health = copy.deepcopy(health)
    del health["city"]["error"]
    health["city"]["last_contact"] = "2026-11-21T10:05:00Z"
    gateway.push("health", health)
    await wait_for(
        lambda: (
            state_of(hass, "binary_sensor.home_gateway_city_connection").attributes.get(
                "last_contact"
            )
            == "2026-11-21T10:05:00+00:00"
        )
    )
    assert state_of(hass, "binary_sensor.home_gateway_city_connection").attributes["error"] is None
    health = copy.deepcopy(health)
    health["city"] = None
    gateway.push("health", health)
    await wait_for(
        lambda: state_of(hass, "binary_sensor.home_gateway_city_connection").state == "unknown"
    )


async def test_privacy_mode_switch(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """The switch calls PUT /privacy-mode; a gateway failure is a translated error."""
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.home_gateway_privacy_mode"}, blocking=True
    )
    assert ("PUT", "/api/v1/privacy-mode", {"enabled": True}) in gateway.calls
    assert state_of(hass, "switch.home_gateway_privacy_mode").state == "on"
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.home_gateway_privacy_mode"}, blocking=True
    )
    assert state_of(hass, "switch.home_gateway_privacy_mode").state == "off"

    gateway.fail_with = 500
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "switch", "turn_on", {"entity_id": "switch.home_gateway_privacy_mode"}, blocking=True
        )
    assert err.value.translation_key == "communication_error"
    assert state_of(hass, "switch.home_gateway_privacy_mode").state == "off"


async def test_stale_camera_device_removed(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A camera the gateway no longer lists loses its device; its entity goes unavailable."""
    from homeassistant.helpers import device_registry as dr

    registry = dr.async_get(hass)
    ident = ("safesmart", "gw-6b2f0c1d:reg-drive")
    assert registry.async_get_device(identifiers={ident}) is not None
    gateway.cameras = gateway.cameras[:1]
    await init_integration.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert registry.async_get_device(identifiers={ident}) is None
    assert registry.async_get_device(identifiers={("safesmart", "gw-6b2f0c1d")}) is not None


async def test_older_update_does_not_win(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A late action answer cannot move a request back to an older state."""
    newer = dict(gateway.requests[REQUEST_ID], state="uploading", updated_at="2026-11-21T10:05:00Z")
    gateway.push_request(newer)
    await wait_for(lambda: state_of(hass, "sensor.home_gateway_uploads_in_progress").state == "1")
    older = dict(newer, state="approved", updated_at="2026-11-21T10:01:00Z")
    init_integration.runtime_data.async_set_request(Request.from_json(older))
    await hass.async_block_till_done()
    coordinator = init_integration.runtime_data
    assert coordinator.data.requests[REQUEST_ID].state.value == "uploading"


async def test_cameras_come_and_go(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A camera registered later appears at the next refresh; one removed and re-added returns."""
    coordinator = init_integration.runtime_data
    garage = dict(gateway.cameras[1], registration_id="reg-garage", name="Garage")
    gateway.cameras.append(garage)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.garage_registration").state == "pending"

    gateway.cameras.pop()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.garage_registration") is None

    gateway.cameras.append(garage)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.garage_registration").state == "pending"


async def test_only_stale_devices_can_be_deleted(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """The resident may delete a device the gateway dropped, not the gateway or a live camera."""
    from homeassistant.helpers import device_registry as dr

    from custom_components.safesmart import async_remove_config_entry_device

    registry = dr.async_get(hass)
    gateway_device = registry.async_get_device(identifiers={("safesmart", "gw-6b2f0c1d")})
    front = registry.async_get_device(identifiers={("safesmart", "gw-6b2f0c1d:reg-front")})
    assert gateway_device is not None and front is not None
    assert not await async_remove_config_entry_device(hass, init_integration, gateway_device)
    assert not await async_remove_config_entry_device(hass, init_integration, front)
    gateway.cameras = gateway.cameras[1:]
    await init_integration.runtime_data.async_refresh()
    assert await async_remove_config_entry_device(hass, init_integration, front)
