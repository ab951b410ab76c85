"""Set-up, unload, push updates and connection loss."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.safesmart.const import DOMAIN

from .fake_gateway import FakeGateway, wait_for
from .helpers import state_of


async def test_setup_and_unload(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """The entry loads, follows the stream, and unloading leaves nothing behind."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert gateway.open_streams == 1
    assert state_of(hass, "sensor.home_gateway_pending_requests").state == "1"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # mypy keeps entry.state narrowed to LOADED (the first assert) across the awaited unload.
    assert entry.state is ConfigEntryState.NOT_LOADED  # type: ignore[comparison-overlap]
    for state in hass.states.async_all():
        if state.entity_id.startswith(("sensor.home_gateway", "switch.home_gateway")):
            assert state.state == "unavailable"
    gateway.push("health", gateway.health)  # the write to a closed stream ends it
    await wait_for(lambda: gateway.open_streams == 0)
    assert hass.services.has_service(DOMAIN, "approve")
