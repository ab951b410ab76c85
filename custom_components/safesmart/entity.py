"""Base entities: one for the gateway device, one for each registered camera's device."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .client import Camera
from .coordinator import SafeSmartCoordinator
from .devices import camera_identifier, gateway_identifier


class SafeSmartEntity(CoordinatorEntity[SafeSmartCoordinator]):
    """An entity of the gateway device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SafeSmartCoordinator, key: str) -> None:
        """Build the gateway's DeviceInfo once."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        health = coordinator.data.health
        self._attr_unique_id = f"{entry.unique_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={gateway_identifier(entry)},
            manufacturer="SafeSmart",
            model="Privacy gateway",
            name=health.name,
            sw_version=health.version,
        )


class SafeSmartCameraEntity(CoordinatorEntity[SafeSmartCoordinator]):
    """An entity of one registered camera's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SafeSmartCoordinator, camera: Camera, key: str) -> None:
        """Build the camera's DeviceInfo; linking to the resident's camera is done by id."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.registration_id = camera.registration_id
        self._attr_unique_id = f"{entry.unique_id}_{camera.registration_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={camera_identifier(entry, camera.registration_id)},
            manufacturer="SafeSmart",
            model=f"Registered camera ({camera.source})",
            name=camera.name,
            via_device=gateway_identifier(entry),
        )

    @property
    def camera(self) -> Camera | None:
        """This camera in the latest snapshot, or None once the gateway dropped it."""
        return self.coordinator.data.cameras.get(self.registration_id)

    @property
    def available(self) -> bool:
        """Unavailable when the gateway is down or no longer lists the camera."""
        return super().available and self.camera is not None
