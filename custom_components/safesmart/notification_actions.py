"""Approve or decline from a phone notification: nonce-bound, allowed users only, once."""

from __future__ import annotations

import hmac
import re

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .client import Request, RequestState, SafeSmartError
from .const import ACTION_PREFIX, CONF_ALLOWED_USERS, DOMAIN, LOGGER, MOBILE_APP_ACTION_EVENT
from .coordinator import SafeSmartConfigEntry

# uuids contain no "_", so the nonce (url-safe base64, which may) is everything after it.
ACTION_PATTERN = re.compile(
    rf"{ACTION_PREFIX}_(APPROVE|DECLINE)_([0-9a-fA-F-]{{36}})_([A-Za-z0-9_-]{{16,128}})"
)
# Request ids whose nonce has been spent: a tap cannot be replayed, even after a failure.
USED_NONCES: HassKey[set[str]] = HassKey(f"{DOMAIN}_used_nonces")


def _find(hass: HomeAssistant, request_id: str) -> tuple[SafeSmartConfigEntry, Request] | None:
    entries: list[SafeSmartConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    for entry in entries:
        if entry.state is not ConfigEntryState.LOADED:
            continue
        data = entry.runtime_data.data
        if data is not None and (request := data.requests.get(request_id)) is not None:
            return entry, request
    return None


async def async_handle_action(hass: HomeAssistant, event: Event) -> None:
    """Act on a SafeSmart notification action only if every check passes; log the rest."""
    action = event.data.get("action")
    if not isinstance(action, str) or not action.startswith(f"{ACTION_PREFIX}_"):
        return
    if (match := ACTION_PATTERN.fullmatch(action)) is None:
        LOGGER.warning("Ignored a malformed SafeSmart notification action")
        return
    verb, request_id, nonce = match.groups()
    used = hass.data.setdefault(USED_NONCES, set())
    if (found := _find(hass, request_id)) is None:
        LOGGER.warning("Ignored a notification action for unknown request %s", request_id)
        return
    entry, request = found
    if request_id in used:
        LOGGER.warning("Ignored a replayed notification action for request %s", request_id)
        return
    if not hmac.compare_digest(nonce.encode(), request.approval_nonce.encode()):
        LOGGER.warning("Ignored a notification action with a wrong nonce for %s", request_id)
        return
    user_id = event.context.user_id
    if user_id is None or user_id not in entry.options.get(CONF_ALLOWED_USERS, []):
        LOGGER.warning(
            "Ignored a notification action for %s from a user who may not decide", request_id
        )
        return
    if request.state is not RequestState.PENDING:
        LOGGER.warning("Ignored a notification action for %s: no longer pending", request_id)
        return
    used.add(request_id)
    client = entry.runtime_data.client
    try:
        if verb == "APPROVE":
            updated = await client.approve(request_id)
        else:
            updated = await client.decline(request_id)
    except SafeSmartError as err:
        LOGGER.error("Could not %s request %s: %s", verb.lower(), request_id, err)
        return
    LOGGER.info("Request %s %s from a phone notification", request_id, updated.state.value)
    entry.runtime_data.async_set_request(updated)


@callback
def async_listen(hass: HomeAssistant) -> CALLBACK_TYPE:
    """Listen for mobile_app notification actions."""

    async def _handle(event: Event) -> None:
        await async_handle_action(hass, event)

    return hass.bus.async_listen(MOBILE_APP_ACTION_EVENT, _handle)
