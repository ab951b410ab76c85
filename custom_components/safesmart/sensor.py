"""Sensors: pending requests, uploads in progress, last delivery; per camera, registration,
the progress of its answer and the span of footage its source holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .client import Camera, CameraStatus, RequestCamera, RequestState
from .coordinator import SafeSmartConfigEntry, SafeSmartCoordinator, SafeSmartData
from .entity import SafeSmartCameraEntity, SafeSmartEntity

PARALLEL_UPDATES = 0

_IN_PROGRESS = (RequestState.APPROVED, RequestState.UPLOADING)
_ANSWERING = ("approved", "uploading")  # a camera's states while its answer is under way


def _pending(data: SafeSmartData) -> list[dict[str, Any]]:
    return [
        {
            "request_id": r.id,
            "agency": r.agency_name,
            "incident_type": r.incident.type,
            "respond_by": r.respond_by.isoformat(),
        }
        for r in sorted(data.requests.values(), key=lambda r: r.respond_by)
        if r.state is RequestState.PENDING
    ]


def _last_delivery(data: SafeSmartData) -> datetime | None:
    delivered = [r.updated_at for r in data.requests.values() if r.state is RequestState.DELIVERED]
    return max(delivered, default=None)


@dataclass(frozen=True, kw_only=True)
class SafeSmartSensorDescription(SensorEntityDescription):
    """Describes a gateway sensor."""

    value_fn: Callable[[SafeSmartData], int | datetime | None]
    attributes_fn: Callable[[SafeSmartData], dict[str, Any]] = lambda _: {}


@dataclass(frozen=True, kw_only=True)
class CameraFootageSensorDescription(SensorEntityDescription):
    """Describes one end of the span of footage a camera's source holds."""

    value_fn: Callable[[Camera], datetime | None]


SENSORS: tuple[SafeSmartSensorDescription, ...] = (
    SafeSmartSensorDescription(
        key="pending_requests",
        translation_key="pending_requests",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: len(_pending(data)),
        attributes_fn=lambda data: {"requests": _pending(data)},
    ),
    SafeSmartSensorDescription(
        key="uploads_in_progress",
        translation_key="uploads_in_progress",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: sum(r.state in _IN_PROGRESS for r in data.requests.values()),
    ),
    SafeSmartSensorDescription(
        key="last_delivery",
        translation_key="last_delivery",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_last_delivery,
    ),
)

# Unknown where the source cannot say (Ring's device list gives no span) or holds nothing yet.
# The newest end going stale is how a resident sees that a recorder stopped recording.
FOOTAGE_SENSORS: tuple[CameraFootageSensorDescription, ...] = tuple(
    CameraFootageSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=attrgetter(key),
    )
    for key in ("footage_start", "footage_end")  # Camera's attributes of the same names
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SafeSmartConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up gateway sensors and each camera's sensors."""
    coordinator = entry.runtime_data
    async_add_entities(SafeSmartSensor(coordinator, description) for description in SENSORS)
    known: set[str] = set()

    @callback
    def _async_add_new_cameras() -> None:
        """Cameras registered after set-up get their device and sensor right away."""
        current = set(coordinator.data.cameras)
        known.intersection_update(current)  # a removed camera may come back later
        if new := current - known:
            known.update(new)
            cameras = [coordinator.data.cameras[rid] for rid in sorted(new)]
            async_add_entities(
                [CameraRegistrationSensor(coordinator, camera) for camera in cameras]
                + [CameraUploadProgressSensor(coordinator, camera) for camera in cameras]
                + [
                    CameraFootageSensor(coordinator, camera, description)
                    for camera in cameras
                    for description in FOOTAGE_SENSORS
                ]
            )

    _async_add_new_cameras()
    entry.async_on_unload(coordinator.async_add_listener(_async_add_new_cameras))


class SafeSmartSensor(SafeSmartEntity, SensorEntity):
    """A sensor of the gateway device."""

    entity_description: SafeSmartSensorDescription

    def __init__(
        self, coordinator: SafeSmartCoordinator, description: SafeSmartSensorDescription
    ) -> None:
        """Initialise from its description."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> int | datetime | None:
        """The sensor's value from the latest snapshot."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Details that do not fit the state (never nonces or officer contacts)."""
        return self.entity_description.attributes_fn(self.coordinator.data)


class CameraRegistrationSensor(SafeSmartCameraEntity, SensorEntity):
    """Registration status of one camera with the city."""

    _attr_translation_key = "registration_status"
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: SafeSmartCoordinator, camera: Camera) -> None:
        """Initialise for one camera."""
        super().__init__(coordinator, camera, "registration_status")
        self._attr_options = [status.value for status in CameraStatus]

    @property
    def native_value(self) -> str | None:
        """The camera's registration status."""
        return None if (camera := self.camera) is None else camera.status.value


def answer_in_progress(data: SafeSmartData, registration_id: str) -> RequestCamera | None:
    """The camera's entry in the most recently received request that is answering it now."""
    answering = [
        (request.received_at, camera)
        for request in data.requests.values()
        for camera in request.cameras
        if camera.registration_id == registration_id and camera.state in _ANSWERING
    ]
    return max(answering, key=lambda pair: pair[0])[1] if answering else None


class CameraUploadProgressSensor(SafeSmartCameraEntity, SensorEntity):
    """How much of the camera's approved answer the city has received; unknown when idle."""

    _attr_translation_key = "upload_progress"
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_suggested_display_precision = 0

    def __init__(self, coordinator: SafeSmartCoordinator, camera: Camera) -> None:
        """Initialise for one camera."""
        super().__init__(coordinator, camera, "upload_progress")

    @property
    def native_value(self) -> float | None:
        """Percent done; None with no answer under way or a gateway that does not say."""
        answer = answer_in_progress(self.coordinator.data, self.registration_id)
        if answer is None or answer.progress is None:
            return None
        return round(answer.progress * 100, 1)


class CameraFootageSensor(SafeSmartCameraEntity, SensorEntity):
    """The oldest or newest footage the camera's source holds, as the gateway last read it."""

    entity_description: CameraFootageSensorDescription

    def __init__(
        self,
        coordinator: SafeSmartCoordinator,
        camera: Camera,
        description: CameraFootageSensorDescription,
    ) -> None:
        """Initialise one end of one camera's span."""
        super().__init__(coordinator, camera, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> datetime | None:
        """The moment, or None when the source does not say."""
        camera = self.camera
        return None if camera is None else self.entity_description.value_fn(camera)
