"""Config flow: user, zeroconf discovery, reauth (token) and reconfigure (URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .client import (
    API_PATH,
    Health,
    SafeSmartAuthenticationError,
    SafeSmartClient,
    SafeSmartConnectionError,
    SafeSmartError,
    SafeSmartResponseError,
)
from .const import DEFAULT_URL, DOMAIN, LOGGER
from .options_flow import SafeSmartOptionsFlow

TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


class SafeSmartConfigFlow(ConfigFlow, domain=DOMAIN):
    """Connect Home Assistant to one SafeSmart gateway."""

    VERSION = 1

    def __init__(self) -> None:
        """Initialise the flow's discovered URL."""
        self._discovered_url: str | None = None
        self._discovered_name: str | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Any) -> SafeSmartOptionsFlow:
        """Return the options flow."""
        return SafeSmartOptionsFlow()

    async def _async_test(self, url: str, token: str) -> tuple[Health | None, dict[str, str]]:
        """Ask the gateway for its health; return it or the form errors."""
        client = SafeSmartClient(url, token, session=async_get_clientsession(self.hass))
        try:
            return await client.health(), {}
        except SafeSmartAuthenticationError:
            return None, {"base": "invalid_auth"}
        except SafeSmartConnectionError:
            return None, {"base": "cannot_connect"}
        except SafeSmartResponseError:
            return None, {"base": "not_a_gateway"}
        except SafeSmartError:
            LOGGER.exception("Unexpected answer from the SafeSmart gateway")
            return None, {"base": "unknown"}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the gateway's URL and token, and test them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            url = user_input[CONF_URL].rstrip("/")
            health, errors = await self._async_test(url, user_input[CONF_TOKEN])
            if health is not None:
                await self.async_set_unique_id(health.gateway_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=health.name, data={CONF_URL: url, CONF_TOKEN: user_input[CONF_TOKEN]}
                )
        suggested = user_input or {CONF_URL: DEFAULT_URL}
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): URL_SELECTOR,
                vol.Required(CONF_TOKEN): TOKEN_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A gateway advertised itself on the LAN (only when told to listen beyond loopback)."""
        properties = discovery_info.properties
        gateway_id = properties.get("gateway_id")
        if not gateway_id:
            return self.async_abort(reason="not_a_gateway")
        if properties.get("path", API_PATH) != API_PATH:
            return self.async_abort(reason="unsupported_version")
        host = discovery_info.host
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{discovery_info.port}"
        await self.async_set_unique_id(gateway_id)
        self._abort_if_unique_id_configured(updates={CONF_URL: url})
        self._discovered_url = url
        self._discovered_name = discovery_info.name.split(".", 1)[0]
        self.context["title_placeholders"] = {"name": self._discovered_name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the token of the discovered gateway."""
        assert self._discovered_url is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            health, errors = await self._async_test(self._discovered_url, user_input[CONF_TOKEN])
            if health is not None:
                if health.gateway_id != self.unique_id:
                    return self.async_abort(reason="wrong_gateway")
                return self.async_create_entry(
                    title=health.name,
                    data={CONF_URL: self._discovered_url, CONF_TOKEN: user_input[CONF_TOKEN]},
                )
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): TOKEN_SELECTOR}),
            description_placeholders={
                "name": str(self._discovered_name),
                "url": self._discovered_url,
            },
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The gateway rejected the token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new token and test it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            health, errors = await self._async_test(entry.data[CONF_URL], user_input[CONF_TOKEN])
            if health is not None:
                await self.async_set_unique_id(health.gateway_id)
                self._abort_if_unique_id_mismatch(reason="wrong_gateway")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_TOKEN: user_input[CONF_TOKEN]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): TOKEN_SELECTOR}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Point the entry at the gateway's new URL."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            url = user_input[CONF_URL].rstrip("/")
            health, errors = await self._async_test(url, entry.data[CONF_TOKEN])
            if health is not None:
                await self.async_set_unique_id(health.gateway_id)
                self._abort_if_unique_id_mismatch(reason="wrong_gateway")
                return self.async_update_reload_and_abort(entry, data_updates={CONF_URL: url})
        schema = vol.Schema({vol.Required(CONF_URL): URL_SELECTOR})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or entry.data),
            errors=errors,
        )
