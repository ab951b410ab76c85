"""Connectivity of the gateway and of the gateway's link to the city."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SafeSmartConfigEntry, SafeSmartCoordinator
from .entity import SafeSmartEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SafeSmartBinarySensorDescription(BinarySensorEntityDescription):
    """Describes a SafeSmart binary sensor."""

    is_on_fn: Callable[[SafeSmartCoordinator], bool | None]
    attributes_fn: Callable[[SafeSmartCoordinator], dict[str, Any]] = lambda _: {}
    always_available: bool = False


def _city_link(coordinator: SafeSmartCoordinator) -> dict[str, Any]:
    """When the gateway last reached its city and, while it cannot, why not."""
    if (city := coordinator.data.health.city) is None:
        return {}
    last = city.last_contact
    return {"last_contact": None if last is None else last.isoformat(), "error": city.error}


BINARY_SENSORS: tuple[SafeSmartBinarySensorDescription, ...] = (
    SafeSmartBinarySensorDescription(
        key="gateway_connected",
        translation_key="gateway_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Reports "disconnected" rather than going unavailable: that is its whole point.
        always_available=True,
        is_on_fn=lambda coordinator: coordinator.last_update_success,
    ),
    SafeSmartBinarySensorDescription(
        key="city_connected",
        translation_key="city_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda coordinator: (
            None if (city := coordinator.data.health.city) is None else city.connected
        ),
        attributes_fn=_city_link,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SafeSmartConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the connectivity binary sensors."""
    async_add_entities(
        SafeSmartBinarySensor(entry.runtime_data, description) for description in BINARY_SENSORS
    )


class SafeSmartBinarySensor(SafeSmartEntity, BinarySensorEntity):
    """A connectivity binary sensor."""

    entity_description: SafeSmartBinarySensorDescription

    def __init__(
        self, coordinator: SafeSmartCoordinator, description: SafeSmartBinarySensorDescription
    ) -> None:
        """Initialise from its description."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """The gateway sensor stays available to say 'disconnected'."""
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool | None:
        """Whether the link is up."""
        return self.entity_description.is_on_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Details of the link (none for the gateway's own)."""
        return self.entity_description.attributes_fn(self.coordinator)
