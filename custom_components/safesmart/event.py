"""Event entity: one event per footage request received or decided."""

from __future__ import annotations

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .client import Request, RequestState
from .coordinator import SafeSmartConfigEntry, SafeSmartCoordinator
from .entity import SafeSmartEntity

PARALLEL_UPDATES = 0

# Request states that are outcomes worth an event; "uploading" shows on the sensors instead.
EVENT_TYPES: dict[RequestState, str] = {
    RequestState.PENDING: "received",
    RequestState.APPROVED: "approved",
    RequestState.DECLINED: "declined",
    RequestState.EXPIRED: "expired",
    RequestState.DELIVERED: "delivered",
    RequestState.FAILED: "failed",
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SafeSmartConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the footage request event entity."""
    async_add_entities([FootageRequestEvent(entry.runtime_data)])


class FootageRequestEvent(SafeSmartEntity, EventEntity):
    """Fires received, approved, declined, expired, delivered and failed."""

    _attr_translation_key = "footage_request"

    def __init__(self, coordinator: SafeSmartCoordinator) -> None:
        """Initialise the event entity."""
        super().__init__(coordinator, "footage_request")
        self._attr_event_types = list(EVENT_TYPES.values())

    async def async_added_to_hass(self) -> None:
        """Subscribe to request changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.async_add_request_listener(self._request_changed))

    @callback
    def _request_changed(self, old: Request | None, new: Request) -> None:
        if (old is not None and old.state is new.state) or new.state not in EVENT_TYPES:
            return
        self._trigger_event(
            EVENT_TYPES[new.state],
            {
                "request_id": new.id,
                "agency": new.agency_name,
                "case_number": new.case_number,
                "incident_type": new.incident.type,
                "decided_by": new.decided_by,
                "error": new.error,
            },
        )
        self.async_write_ha_state()
