"""Coordinator: owns the gateway client, the state snapshot and the live event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import repairs
from .client import (
    Camera,
    Health,
    Request,
    SafeSmartAuthenticationError,
    SafeSmartClient,
    SafeSmartError,
    StreamEvent,
)
from .const import (
    DOMAIN,
    LOGGER,
    RECONNECT_MAX_S,
    RECONNECT_MIN_S,
    SCAN_INTERVAL,
    UNREACHABLE_ISSUE_AFTER,
)

type SafeSmartConfigEntry = ConfigEntry[SafeSmartCoordinator]
type RequestListener = Callable[[Request | None, Request], None]


@dataclass(frozen=True)
class SafeSmartData:
    """Snapshot of the gateway: health, requests by id and cameras by registration id."""

    health: Health
    requests: dict[str, Request] = field(default_factory=dict)
    cameras: dict[str, Camera] = field(default_factory=dict)


class SafeSmartCoordinator(DataUpdateCoordinator[SafeSmartData]):
    """Reads the gateway once, then follows its event stream with reconnect and backoff."""

    config_entry: SafeSmartConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SafeSmartConfigEntry) -> None:
        """Create the client on Home Assistant's shared session."""
        self.client = SafeSmartClient(
            entry.data[CONF_URL], entry.data[CONF_TOKEN], session=async_get_clientsession(hass)
        )
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN}_{entry.unique_id}",
            update_interval=SCAN_INTERVAL,
        )
        self._request_listeners: list[RequestListener] = []
        self._lost_at: datetime | None = None

    async def _async_update_data(self) -> SafeSmartData:
        """Read health, requests and cameras from the gateway."""
        try:
            health = await self.client.health()
            requests = await self.client.requests()
            cameras = await self.client.cameras()
        except SafeSmartAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except SafeSmartError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        return SafeSmartData(
            health=health,
            requests={request.id: request for request in requests},
            cameras={camera.registration_id: camera for camera in cameras},
        )

    @callback
    def async_add_request_listener(self, listener: RequestListener) -> CALLBACK_TYPE:
        """Call listener(old, new) whenever a request appears or changes."""
        self._request_listeners.append(listener)
        return lambda: self._request_listeners.remove(listener)

    @callback
    def async_set_request(self, request: Request) -> None:
        """Store a request the gateway sent (stream or action answer) and tell listeners."""
        if self.data is None:
            return
        old = self.data.requests.get(request.id)
        # An action's answer can arrive after a newer state from the stream: keep the newer.
        if old is not None and (old == request or request.updated_at < old.updated_at):
            return
        requests = {**self.data.requests, request.id: request}
        self.async_set_updated_data(replace(self.data, requests=requests))
        for listener in list(self._request_listeners):
            listener(old, request)

    @callback
    def async_set_health(self, health: Health) -> None:
        """Store new health from the stream or an action answer."""
        if self.data is not None:
            self.async_set_updated_data(replace(self.data, health=health))

    async def async_follow_stream(self) -> None:
        """Follow the event stream forever; reconnect with exponential backoff."""
        delay = RECONNECT_MIN_S
        while True:
            try:
                async for event in self.client.events():
                    await self._async_handle_stream_event(event)
                    delay = RECONNECT_MIN_S
                error = "the gateway closed the event stream"
            except SafeSmartAuthenticationError:
                self.config_entry.async_start_reauth(self.hass)
                self._async_mark_lost("the gateway rejected the token")
                return
            except SafeSmartError as err:
                error = str(err)
            self._async_mark_lost(error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _async_handle_stream_event(self, event: StreamEvent) -> None:
        if event.connected:
            await self._async_resync()
        elif event.request is not None:
            self.async_set_request(event.request)
        elif event.health is not None:
            self.async_set_health(event.health)

    async def _async_resync(self) -> None:
        """Re-read everything once the stream is open, announcing what arrived meanwhile."""
        previous = self.data
        await self.async_refresh()
        if not self.last_update_success:
            return
        if self._lost_at is not None:
            # The coordinator itself logs the recovery ("Fetching ... data recovered").
            self._lost_at = None
            repairs.async_delete_unreachable_issue(self.hass, self.config_entry)
        if previous is None:
            return
        for request in self.data.requests.values():
            old = previous.requests.get(request.id)
            if old != request:
                for listener in list(self._request_listeners):
                    listener(old, request)

    @callback
    def _async_mark_lost(self, error: str) -> None:
        """Make entities unavailable; log once per outage and raise a repair if it lasts."""
        now = dt_util.utcnow()
        if self._lost_at is None:
            self._lost_at = now
            if self.last_update_success:  # else the coordinator has logged this outage
                LOGGER.warning("Lost connection to the SafeSmart gateway: %s", error)
        elif now - self._lost_at >= UNREACHABLE_ISSUE_AFTER:
            repairs.async_create_unreachable_issue(self.hass, self.config_entry)
        if self.last_update_success:
            self.last_update_success = False
            self.async_update_listeners()
