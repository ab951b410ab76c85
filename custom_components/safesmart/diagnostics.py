"""Diagnostics, with the token, approval nonces and officer contacts redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant

from .coordinator import SafeSmartConfigEntry

TO_REDACT = {CONF_TOKEN, "approval_nonce", "officer", "allowed_users"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SafeSmartConfigEntry
) -> dict[str, Any]:
    """Return what helps debugging, never secrets or personal contacts."""
    coordinator = entry.runtime_data
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "connected": coordinator.last_update_success,
            "health": asdict(data.health),
            "requests": [asdict(request) for request in data.requests.values()],
            "cameras": [asdict(camera) for camera in data.cameras.values()],
        },
        TO_REDACT,
    )
