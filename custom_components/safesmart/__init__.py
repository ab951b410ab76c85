"""The SafeSmart integration: a thin client of the resident's privacy gateway."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from . import notification_actions, repairs
from .announcements import Announcer
from .const import DOMAIN, PREVIEW_DIR
from .coordinator import SafeSmartConfigEntry, SafeSmartCoordinator
from .deadlines import UnansweredRequests
from .devices import (
    async_link_camera_devices,
    async_remove_stale_camera_devices,
    camera_identifier,
    gateway_identifier,
)
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR, Platform.SWITCH]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the phone-notification listener once."""
    async_setup_services(hass)
    notification_actions.async_listen(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SafeSmartConfigEntry) -> bool:
    """Read the gateway, set up entities, then follow its event stream."""
    coordinator = SafeSmartCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator

    announcer = Announcer(hass, entry)
    deadlines = UnansweredRequests(hass, entry)
    entry.async_on_unload(coordinator.async_add_request_listener(announcer.async_request_changed))
    entry.async_on_unload(coordinator.async_add_request_listener(deadlines.async_request_changed))
    entry.async_on_unload(deadlines.async_cancel_all)
    announcer.async_show_existing(coordinator.data.requests)
    deadlines.async_schedule_existing(coordinator.data.requests)

    @callback
    def _async_check_gateway() -> None:
        if coordinator.data is not None:
            repairs.async_check_health(hass, entry, coordinator.data.health)
            async_remove_stale_camera_devices(hass, entry, coordinator.data.cameras)
            async_link_camera_devices(hass, entry)

    entry.async_on_unload(coordinator.async_add_listener(_async_check_gateway))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    _async_check_gateway()
    # Options take effect without a reload; only camera links need refreshing.
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    entry.async_create_background_task(
        hass, coordinator.async_follow_stream(), f"{DOMAIN} event stream {entry.title}"
    )
    return True


async def _async_options_updated(hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
    async_link_camera_devices(hass, entry)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SafeSmartConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the resident delete a camera device the gateway no longer lists, nothing else."""
    current = {camera_identifier(entry, rid) for rid in entry.runtime_data.data.cameras}
    current.add(gateway_identifier(entry))
    return not device.identifiers & current


async def async_remove_entry(hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
    """Delete saved previews once the last gateway is removed."""
    if not hass.config_entries.async_entries(DOMAIN):
        folder = Path(hass.config.path(PREVIEW_DIR))
        await hass.async_add_executor_job(partial(shutil.rmtree, folder, ignore_errors=True))


async def async_unload_entry(hass: HomeAssistant, entry: SafeSmartConfigEntry) -> bool:
    """Unload platforms; the stream task and listeners end with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
