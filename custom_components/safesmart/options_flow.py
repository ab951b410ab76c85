"""Options: phones to notify, who may approve, what happens when nobody answers, camera map."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .const import (
    CONF_ALLOWED_USERS,
    CONF_CAMERA_MAP,
    CONF_NOTIFY_SERVICES,
    CONF_UNANSWERED,
    UNANSWERED_DECLINE,
    UNANSWERED_LEAVE_PENDING,
)


class SafeSmartOptionsFlow(OptionsFlow):
    """Two steps: notifications and consent, then the camera map."""

    def __init__(self) -> None:
        """Hold the first step's answers until the camera step."""
        self._options: dict[str, Any] = {}
        self._camera_keys: dict[str, str] = {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose phones, allowed users and the default for unanswered requests."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get(CONF_NOTIFY_SERVICES) and not user_input.get(CONF_ALLOWED_USERS):
                errors[CONF_ALLOWED_USERS] = "no_allowed_users"
            else:
                self._options = {**self.config_entry.options, **user_input}
                return await self.async_step_cameras()
        phones = sorted(
            f"notify.{name}"
            for name in self.hass.services.async_services_for_domain("notify")
            if name.startswith("mobile_app_")
        )
        users = [
            SelectOptionDict(value=user.id, label=user.name or user.id)
            for user in await self.hass.auth.async_get_users()
            if not user.system_generated and user.is_active
        ]
        schema = vol.Schema(
            {
                vol.Optional(CONF_NOTIFY_SERVICES, default=[]): SelectSelector(
                    SelectSelectorConfig(options=phones, multiple=True)
                ),
                vol.Optional(CONF_ALLOWED_USERS, default=[]): SelectSelector(
                    SelectSelectorConfig(options=users, multiple=True)
                ),
                vol.Required(CONF_UNANSWERED, default=UNANSWERED_LEAVE_PENDING): SelectSelector(
                    SelectSelectorConfig(
                        options=[UNANSWERED_LEAVE_PENDING, UNANSWERED_DECLINE],
                        mode=SelectSelectorMode.LIST,
                        translation_key=CONF_UNANSWERED,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.config_entry.options
            ),
            errors=errors,
        )

    async def async_step_cameras(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Map each registered camera to the Home Assistant camera it is (Ring, Nest, ...)."""
        entry = self.config_entry
        cameras = entry.runtime_data.data.cameras if entry.state is ConfigEntryState.LOADED else {}
        if not cameras:
            # Not loaded, or no cameras yet: keep the current map rather than wipe it.
            self._options.setdefault(CONF_CAMERA_MAP, {})
            return self.async_create_entry(data=self._options)
        if user_input is not None:
            self._options[CONF_CAMERA_MAP] = {
                registration_id: user_input[key]
                for key, registration_id in self._camera_keys.items()
                if user_input.get(key)
            }
            return self.async_create_entry(data=self._options)
        # The field label is the camera's name; a suffix keeps duplicate names apart.
        names = [camera.name for camera in cameras.values()]
        self._camera_keys = {
            (camera.name if names.count(camera.name) == 1 else f"{camera.name} ({rid[:8]})"): rid
            for rid, camera in cameras.items()
        }
        current: dict[str, str] = self.config_entry.options.get(CONF_CAMERA_MAP, {})
        schema = vol.Schema(
            {
                vol.Optional(key): EntitySelector(EntitySelectorConfig(domain="camera"))
                for key in self._camera_keys
            }
        )
        suggested = {key: current[rid] for key, rid in self._camera_keys.items() if rid in current}
        return self.async_show_form(
            step_id="cameras",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
        )
