"""Repair issues a resident can act on, and the fix flow for a changed city key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import (
    CONF_CITY_FINGERPRINT,
    DOMAIN,
    ISSUE_CITY_KEY_CHANGED,
    ISSUE_NOT_ENROLLED,
    ISSUE_UNREACHABLE,
)

if TYPE_CHECKING:
    from .client import Health


def _issue_id(kind: str, entry: ConfigEntry[Any]) -> str:
    return f"{kind}_{entry.entry_id}"


@callback
def async_create_unreachable_issue(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Tell the resident the gateway has been unreachable for a long time."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(ISSUE_UNREACHABLE, entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_UNREACHABLE,
        translation_placeholders={"title": entry.title},
    )


@callback
def async_delete_unreachable_issue(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Withdraw the unreachable issue once the gateway answers again."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id(ISSUE_UNREACHABLE, entry))


@callback
def async_check_health(hass: HomeAssistant, entry: ConfigEntry[Any], health: Health) -> None:
    """Raise or withdraw the enrollment and city-key issues from the gateway's health."""
    not_enrolled = _issue_id(ISSUE_NOT_ENROLLED, entry)
    if health.enrolled:
        ir.async_delete_issue(hass, DOMAIN, not_enrolled)
    else:
        ir.async_create_issue(
            hass,
            DOMAIN,
            not_enrolled,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_NOT_ENROLLED,
            translation_placeholders={"title": entry.title},
        )
    key_changed = _issue_id(ISSUE_CITY_KEY_CHANGED, entry)
    if health.city is None:
        return
    confirmed = entry.data.get(CONF_CITY_FINGERPRINT)
    if confirmed is None:
        # First enrollment seen by Home Assistant: the resident confirmed it on the gateway.
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_CITY_FINGERPRINT: health.city.fingerprint}
        )
    elif confirmed != health.city.fingerprint:
        ir.async_create_issue(
            hass,
            DOMAIN,
            key_changed,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.CRITICAL,
            translation_key=ISSUE_CITY_KEY_CHANGED,
            translation_placeholders={
                "city": health.city.name,
                "old": confirmed,
                "new": health.city.fingerprint,
            },
            data={"entry_id": entry.entry_id, "fingerprint": health.city.fingerprint},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, key_changed)


class CityKeyChangedFlow(RepairsFlow):
    """Let the resident confirm a new city key after comparing its fingerprint."""

    def __init__(self, entry_id: str, fingerprint: str) -> None:
        """Remember which entry and which new fingerprint are being confirmed."""
        self._entry_id = entry_id
        self._fingerprint = fingerprint

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Start with the confirmation step."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Store the new fingerprint as confirmed once the resident agrees."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None:
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_CITY_FINGERPRINT: self._fingerprint}
            )
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders={"new": self._fingerprint},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow for a fixable SafeSmart issue."""
    assert data is not None
    return CityKeyChangedFlow(str(data["entry_id"]), str(data["fingerprint"]))
