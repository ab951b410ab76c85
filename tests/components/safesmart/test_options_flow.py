"""Options flow: phones, allowed users, unanswered default and the camera map."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_mock_service,
)

from custom_components.safesmart.const import (
    CONF_ALLOWED_USERS,
    CONF_CAMERA_MAP,
    CONF_NOTIFY_SERVICES,
    CONF_UNANSWERED,
    DOMAIN,
)

from .fake_gateway import FakeGateway


def form_schema(result: ConfigFlowResult) -> Any:
    """The fields of the form a flow step shows (the voluptuous schema's dict)."""
    data_schema = result["data_schema"]
    assert data_schema is not None, f"step {result.get('step_id')} shows no form"
    return data_schema.schema


async def test_options_flow(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_admin_user: MockUser,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Phones need an allowed user; cameras map to HA camera entities and their devices."""
    async_mock_service(hass, "notify", "mobile_app_pixel")
    async_mock_service(hass, "notify", "persistent_notification")
    ring_entry = MockConfigEntry(domain="ring")
    ring_entry.add_to_hass(hass)
    ring_device = device_registry.async_get_or_create(
        config_entry_id=ring_entry.entry_id, identifiers={("ring", "1234")}, name="Front Door"
    )
    entity_registry.async_get_or_create(
        "camera", "ring", "1234-live", device_id=ring_device.id, suggested_object_id="front"
    )
    entry = init_integration

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    schema = form_schema(result)
    phones = next(k for k in schema if k == CONF_NOTIFY_SERVICES)
    assert schema[phones].config["options"] == ["notify.mobile_app_pixel"]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_NOTIFY_SERVICES: ["notify.mobile_app_pixel"], CONF_UNANSWERED: "decline"},
    )
    assert result["errors"] == {CONF_ALLOWED_USERS: "no_allowed_users"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_NOTIFY_SERVICES: ["notify.mobile_app_pixel"],
            CONF_ALLOWED_USERS: [hass_admin_user.id],
            CONF_UNANSWERED: "decline",
        },
    )
    assert result["step_id"] == "cameras"
    assert set(form_schema(result)) == {"Front door", "Driveway"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"Front door": "camera.front"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_NOTIFY_SERVICES: ["notify.mobile_app_pixel"],
        CONF_ALLOWED_USERS: [hass_admin_user.id],
        CONF_UNANSWERED: "decline",
        CONF_CAMERA_MAP: {"reg-front": "camera.front"},
    }
    await hass.async_block_till_done()
    front = device_registry.async_get_device(identifiers={(DOMAIN, "gw-6b2f0c1d:reg-front")})
    drive = device_registry.async_get_device(identifiers={(DOMAIN, "gw-6b2f0c1d:reg-drive")})
    gateway = device_registry.async_get_device(identifiers={(DOMAIN, "gw-6b2f0c1d")})
    assert front is not None and drive is not None and gateway is not None
    assert front.via_device_id == ring_device.id
    assert drive.via_device_id == gateway.id
    # The Ring device keeps belonging to Ring only.
    ring = device_registry.async_get(ring_device.id)
    assert ring is not None and ring.config_entries == {ring_entry.entry_id}

    # Opening the options again suggests the current mapping; unmapping relinks to the gateway.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ALLOWED_USERS: [hass_admin_user.id], CONF_UNANSWERED: "decline"}
    )
    suggested = {
        str(key): key.description["suggested_value"]
        for key in form_schema(result)
        if key.description
    }
    assert suggested == {"Front door": "camera.front"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert entry.options[CONF_CAMERA_MAP] == {}
    relinked = device_registry.async_get(front.id)
    assert relinked is not None and relinked.via_device_id == gateway.id


async def test_options_duplicate_camera_names_and_not_loaded(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> None:
    """Duplicate names get a suffix; an entry that is not loaded keeps its camera map."""
    gateway.cameras[1]["name"] = "Front door"
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await gateway.stream_opened.wait()
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UNANSWERED: "leave_pending"}
    )
    assert set(form_schema(result)) == {"Front door (reg-fron)", "Front door (reg-driv)"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"Front door (reg-driv)": "camera.other"}
    )
    assert mock_config_entry.options[CONF_CAMERA_MAP] == {"reg-drive": "camera.other"}

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UNANSWERED: "leave_pending"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options[CONF_CAMERA_MAP] == {"reg-drive": "camera.other"}
