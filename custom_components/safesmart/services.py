"""Actions: approve, decline, list requests, get a preview."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .announcements import event_data
from .client import Request, RequestState, SafeSmartError, SafeSmartNotFoundError
from .const import CONF_ALLOWED_USERS, CONF_CAMERA_MAP, DOMAIN, PREVIEW_DIR, PREVIEW_URL
from .coordinator import SafeSmartConfigEntry
from .helpers import translate_client_error

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_REQUEST_ID = "request_id"
ATTR_CAMERAS = "cameras"
ATTR_WINDOW_START = "window_start"
ATTR_WINDOW_END = "window_end"
ATTR_REPLY = "reply"
ATTR_STATE = "state"

_BASE = {
    vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    vol.Required(ATTR_REQUEST_ID): cv.string,
}
APPROVE_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CAMERAS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_WINDOW_START): cv.datetime,
        vol.Optional(ATTR_WINDOW_END): cv.datetime,
    }
)
DECLINE_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CAMERAS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_REPLY): vol.All(cv.string, vol.Length(max=2000)),
    }
)
LIST_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_STATE): vol.In([state.value for state in RequestState]),
    }
)
PREVIEW_SCHEMA = vol.Schema(_BASE)


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _entry(call: ServiceCall) -> SafeSmartConfigEntry:
    """The loaded entry the call names, or the only one."""
    hass = call.hass
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is not None:
        entry: SafeSmartConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise _invalid("unknown_entry")
        if entry.state is not ConfigEntryState.LOADED:
            raise _invalid("entry_not_loaded", title=entry.title)
        return entry
    loaded: list[SafeSmartConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    if len(loaded) != 1:
        raise _invalid("choose_entry" if loaded else "no_loaded_entry")
    return loaded[0]


async def _check_may_decide(call: ServiceCall, entry: SafeSmartConfigEntry) -> None:
    """A person calling the action must be an admin or one of the allowed users."""
    user_id = call.context.user_id
    if user_id is None or user_id in entry.options.get(CONF_ALLOWED_USERS, []):
        return
    user = await call.hass.auth.async_get_user(user_id)
    if user is None or not user.is_admin:
        raise Unauthorized(context=call.context)


def _known_request(entry: SafeSmartConfigEntry, request_id: str) -> Request:
    request = entry.runtime_data.data.requests.get(request_id)
    if request is None:
        raise _invalid("unknown_request", error=request_id)
    if request.state is not RequestState.PENDING:
        raise _invalid("not_pending", error=request.state.value)
    return request


def _check_cameras(request: Request, cameras: list[str] | None) -> None:
    if cameras is None:
        return
    named = {camera.registration_id for camera in request.cameras}
    if not cameras or not set(cameras) <= named:
        raise _invalid("unknown_cameras", cameras=", ".join(sorted(named)))


def _window(request: Request, data: dict[str, Any]) -> tuple[datetime, datetime] | None:
    start, end = data.get(ATTR_WINDOW_START), data.get(ATTR_WINDOW_END)
    if start is None and end is None:
        return None
    start = dt_util.as_utc(start or request.window_start)
    end = dt_util.as_utc(end or request.window_end)
    if not request.window_start <= start < end <= request.window_end:
        raise _invalid(
            "window_outside_request",
            start=request.window_start.isoformat(),
            end=request.window_end.isoformat(),
        )
    return start, end


async def _approve(call: ServiceCall) -> None:
    entry = _entry(call)
    await _check_may_decide(call, entry)
    request = _known_request(entry, call.data[ATTR_REQUEST_ID])
    _check_cameras(request, call.data.get(ATTR_CAMERAS))
    window = _window(request, dict(call.data))
    try:
        updated = await entry.runtime_data.client.approve(
            request.id, cameras=call.data.get(ATTR_CAMERAS), window=window
        )
    except SafeSmartError as err:
        raise translate_client_error(err) from err
    entry.runtime_data.async_set_request(updated)


async def _decline(call: ServiceCall) -> None:
    entry = _entry(call)
    await _check_may_decide(call, entry)
    request = _known_request(entry, call.data[ATTR_REQUEST_ID])
    _check_cameras(request, call.data.get(ATTR_CAMERAS))
    try:
        updated = await entry.runtime_data.client.decline(
            request.id, cameras=call.data.get(ATTR_CAMERAS), reply=call.data.get(ATTR_REPLY)
        )
    except SafeSmartError as err:
        raise translate_client_error(err) from err
    entry.runtime_data.async_set_request(updated)


async def _list_requests(call: ServiceCall) -> ServiceResponse:
    entry = _entry(call)
    camera_map = entry.options.get(CONF_CAMERA_MAP, {})
    wanted = call.data.get(ATTR_STATE)
    requests = sorted(
        entry.runtime_data.data.requests.values(), key=lambda r: r.received_at, reverse=True
    )
    return {
        "requests": [
            {
                **event_data(entry, request, camera_map),
                "updated_at": request.updated_at.isoformat(),
                "decided_by": request.decided_by,
                "error": request.error,
                "preview": request.preview_status.value,
                "camera_states": {c.registration_id: c.state for c in request.cameras},
            }
            for request in requests
            if wanted is None or request.state.value == wanted
        ]
    }


async def _get_preview(call: ServiceCall) -> ServiceResponse:
    entry = _entry(call)
    request_id = call.data[ATTR_REQUEST_ID]
    if request_id not in entry.runtime_data.data.requests:
        raise _invalid("unknown_request", error=request_id)
    try:
        png = await entry.runtime_data.client.preview(request_id)
    except SafeSmartNotFoundError as err:
        raise _invalid("no_preview") from err
    except SafeSmartError as err:
        raise translate_client_error(err) from err
    # The uuid4 request id (122 random bits) keeps the /local/ URL unguessable.
    name = f"{request_id}.png"
    folder = Path(call.hass.config.path(PREVIEW_DIR))

    def _write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(png)

    await call.hass.async_add_executor_job(_write)
    return {"path": str(folder / name), "url": f"{PREVIEW_URL}/{name}"}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(DOMAIN, "approve", _approve, schema=APPROVE_SCHEMA)
    hass.services.async_register(DOMAIN, "decline", _decline, schema=DECLINE_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        "list_requests",
        _list_requests,
        schema=LIST_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        "get_preview",
        _get_preview,
        schema=PREVIEW_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
