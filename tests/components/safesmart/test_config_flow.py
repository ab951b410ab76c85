"""Config flow: user, zeroconf, reauth and reconfigure, with error recovery and duplicates."""

from __future__ import annotations

from collections.abc import Generator
from ipaddress import ip_address
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.safesmart.const import DOMAIN

from .fake_gateway import FakeGateway


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Generator[AsyncMock]:
    """Flows are tested alone: do not set the entry up."""
    with patch("custom_components.safesmart.async_setup_entry", return_value=True) as mock:
        yield mock


def _zeroconf(gateway: FakeGateway, **properties: str) -> ZeroconfServiceInfo:
    assert gateway.server is not None
    props = {"gateway_id": gateway.health["gateway_id"], "version": "0.1.0", "path": "/api/v1"}
    props.update(properties)
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="safesmart-gw.local.",
        name="Home gateway._safesmart._tcp.local.",
        port=gateway.server.port,
        type="_safesmart._tcp.local.",
        properties={k: v for k, v in props.items() if v},
    )


async def test_user_flow(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """A URL and token that work create an entry named after the gateway."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: gateway.url + "/", CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home gateway"
    assert result["data"] == {CONF_URL: gateway.url, CONF_TOKEN: gateway.token}
    assert result["result"].unique_id == "gw-6b2f0c1d"


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        ("token", "invalid_auth"),
        ("stopped", "cannot_connect"),
        ("garbage", "not_a_gateway"),
        ("teapot", "unknown"),
    ],
)
async def test_user_flow_errors_recover(
    hass: HomeAssistant, gateway: FakeGateway, breakage: str, error: str
) -> None:
    """Each failure shows an error on the form; fixing it then creates the entry."""
    url, token = gateway.url, gateway.token
    if breakage == "token":
        token = "wrong"  # noqa: S105 - a test token
    elif breakage == "stopped":
        url = "http://127.0.0.1:9"
    elif breakage == "garbage":
        gateway.health = {"hello": "world"}
    else:
        gateway.fail_with = 418
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: url, CONF_TOKEN: token}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    gateway.health = FakeGateway().health
    gateway.fail_with = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: gateway.url, CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_duplicate(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> None:
    """The same gateway cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: gateway.url, CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_zeroconf_flow(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """A discovered gateway needs only its token; a wrong token can be retried."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(gateway)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {"name": "Home gateway", "url": gateway.url}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_URL: gateway.url, CONF_TOKEN: gateway.token}
    assert result["result"].unique_id == "gw-6b2f0c1d"


async def test_zeroconf_ipv6_url(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """An IPv6 address is bracketed in the URL."""
    info = _zeroconf(gateway)
    info.ip_address = ip_address("::1")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["url"].startswith("http://[::1]:")


@pytest.mark.parametrize(
    ("properties", "reason"),
    [({"gateway_id": ""}, "not_a_gateway"), ({"path": "/api/v2"}, "unsupported_version")],
)
async def test_zeroconf_rejects(
    hass: HomeAssistant, gateway: FakeGateway, properties: dict[str, str], reason: str
) -> None:
    """Services that are not a gateway, or speak another API version, are refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(gateway, **properties)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_zeroconf_updates_known_gateway(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """A configured gateway found at a new address gets its URL updated."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="gw-6b2f0c1d",
        data={CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: gateway.token},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(gateway)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == gateway.url


async def test_zeroconf_wrong_gateway(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """If the address answers with another gateway id, nothing is created."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_zeroconf(gateway, gateway_id="gw-somebody-else"),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_gateway"


async def test_reauth(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> None:
    """A new token is tested, stored and the entry reloaded."""
    mock_config_entry.add_to_hass(hass)
    gateway.token = "rotated-token"  # noqa: S105 - a test token
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "rotated-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_TOKEN] == "rotated-token"


async def test_reauth_wrong_gateway(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> None:
    """A token of another gateway at the same address is refused."""
    mock_config_entry.add_to_hass(hass)
    gateway.health["gateway_id"] = "gw-other"
    result = await mock_config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: gateway.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_gateway"


async def test_reconfigure(hass: HomeAssistant, gateway: FakeGateway) -> None:
    """The URL can change; an unreachable one shows an error first."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="gw-6b2f0c1d",
        data={CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: gateway.token},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://127.0.0.1:9"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: gateway.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == gateway.url


async def test_reconfigure_wrong_gateway(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> None:
    """Pointing the entry at a different gateway is refused."""
    mock_config_entry.add_to_hass(hass)
    gateway.health["gateway_id"] = "gw-other"
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: gateway.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_gateway"
