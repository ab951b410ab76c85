"""Camera devices: stale ones removed, mapped ones linked to the resident's camera device."""

from __future__ import annotations

from collections.abc import Mapping

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .client import Camera
from .const import CONF_CAMERA_MAP, DOMAIN
from .coordinator import SafeSmartConfigEntry


def gateway_identifier(entry: SafeSmartConfigEntry) -> tuple[str, str]:
    """Device identifier of the gateway itself."""
    return (DOMAIN, str(entry.unique_id))


def camera_identifier(entry: SafeSmartConfigEntry, registration_id: str) -> tuple[str, str]:
    """Device identifier of one registered camera."""
    return (DOMAIN, f"{entry.unique_id}:{registration_id}")


@callback
def async_remove_stale_camera_devices(
    hass: HomeAssistant, entry: SafeSmartConfigEntry, cameras: Mapping[str, Camera]
) -> None:
    """Detach devices of cameras the gateway no longer lists."""
    registry = dr.async_get(hass)
    current = {camera_identifier(entry, registration_id) for registration_id in cameras}
    current.add(gateway_identifier(entry))
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not device.identifiers & current:
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


@callback
def async_link_camera_devices(hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
    """Point each mapped camera device at the mapped camera entity's device (via_device).

    Only device ids are used: another integration's identifiers are never re-declared.
    """
    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    gateway = devices.async_get_device(identifiers={gateway_identifier(entry)})
    camera_map: dict[str, str] = entry.options.get(CONF_CAMERA_MAP, {})
    for registration_id in entry.runtime_data.data.cameras:
        device = devices.async_get_device(identifiers={camera_identifier(entry, registration_id)})
        if device is None:
            continue
        via = gateway.id if gateway is not None else None
        entity_id = camera_map.get(registration_id)
        if entity_id and (linked := entities.async_get(entity_id)) and linked.device_id:
            via = linked.device_id
        if device.via_device_id != via:
            devices.async_update_device(device.id, via_device_id=via)
