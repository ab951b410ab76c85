"""Privacy mode: while on, the gateway declines every request automatically."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SafeSmartConfigEntry, SafeSmartCoordinator
from .entity import SafeSmartEntity
from .helpers import safesmart_exception_handler

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SafeSmartConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the privacy mode switch."""
    async_add_entities([PrivacyModeSwitch(entry.runtime_data)])


class PrivacyModeSwitch(SafeSmartEntity, SwitchEntity):
    """Pauses all sharing."""

    _attr_translation_key = "privacy_mode"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, coordinator: SafeSmartCoordinator) -> None:
        """Initialise the switch."""
        super().__init__(coordinator, "privacy_mode")

    @property
    def is_on(self) -> bool:
        """Whether privacy mode is on."""
        return self.coordinator.data.health.privacy_mode

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn privacy mode on."""
        await self._async_set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn privacy mode off."""
        await self._async_set(False)

    @safesmart_exception_handler
    async def _async_set(self, enabled: bool) -> None:
        mode = await self.coordinator.client.set_privacy_mode(enabled)
        self.coordinator.async_set_health(replace(self.coordinator.data.health, privacy_mode=mode))
