"""Fixtures: a fake gateway on 127.0.0.1 and a config entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.safesmart.const import DOMAIN

from .fake_gateway import FakeGateway, wait_for


@pytest.fixture
async def gateway(socket_enabled: None) -> AsyncGenerator[FakeGateway]:
    """A running fake gateway."""
    fake = FakeGateway()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def mock_config_entry(gateway: FakeGateway) -> MockConfigEntry:
    """A config entry for the fake gateway."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home gateway",
        unique_id=gateway.health["gateway_id"],
        data={CONF_URL: gateway.url, CONF_TOKEN: gateway.token},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, gateway: FakeGateway, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set the integration up and wait until it follows the event stream."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await gateway.stream_opened.wait()
    # Once the stream is open the integration re-reads everything; let that finish.
    await wait_for(lambda: gateway.count("GET", "/api/v1/cameras") >= 2)
    await hass.async_block_till_done()
    return mock_config_entry
