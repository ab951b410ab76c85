"""Declining requests nobody answered, when the resident chose that in the options."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time

from .client import Request, RequestState, SafeSmartError
from .const import CONF_UNANSWERED, DECLINE_MARGIN, LOGGER, UNANSWERED_DECLINE
from .coordinator import SafeSmartConfigEntry


class UnansweredRequests:
    """One timer per pending request, firing shortly before the city's respond-by time."""

    def __init__(self, hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
        """Bind to one entry; the option is read when a timer fires."""
        self._hass = hass
        self._entry = entry
        self._timers: dict[str, CALLBACK_TYPE] = {}

    @callback
    def async_schedule_existing(self, requests: Mapping[str, Request]) -> None:
        """Schedule timers for requests already pending at start-up."""
        for request in requests.values():
            self.async_request_changed(None, request)

    @callback
    def async_request_changed(self, old: Request | None, new: Request) -> None:
        """Start a timer for a pending request; stop it once the request is decided."""
        if new.state is not RequestState.PENDING:
            if (cancel := self._timers.pop(new.id, None)) is not None:
                cancel()
            return
        if new.id in self._timers:
            return

        async def _due(now: datetime) -> None:
            self._timers.pop(new.id, None)
            await self._async_decline_if_unanswered(new.id)

        self._timers[new.id] = async_track_point_in_utc_time(
            self._hass, _due, new.respond_by - DECLINE_MARGIN
        )

    async def _async_decline_if_unanswered(self, request_id: str) -> None:
        if self._entry.options.get(CONF_UNANSWERED) != UNANSWERED_DECLINE:
            return
        coordinator = self._entry.runtime_data
        request = coordinator.data.requests.get(request_id)
        if request is None or request.state is not RequestState.PENDING:
            return
        try:
            updated = await coordinator.client.decline(request_id)
        except SafeSmartError as err:
            LOGGER.warning("Could not decline unanswered request %s: %s", request_id, err)
            return
        LOGGER.info("Declined request %s: nobody answered before it was due", request_id)
        coordinator.async_set_request(updated)

    @callback
    def async_cancel_all(self) -> None:
        """Stop every timer (entry unload)."""
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()
