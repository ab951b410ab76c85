"""Diagnostics: useful, with the token, nonces and officer contacts redacted."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from .fake_gateway import FakeGateway


async def test_diagnostics(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Secrets never appear; the rest matches the snapshot."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    text = str(diagnostics)
    assert gateway.token not in text
    assert "Qm9vdHN0cmFwLW5vbmNl" not in text
    assert "a.rivera@example.org" not in text and "555 0100" not in text
    assert diagnostics == snapshot(exclude=props("url"))
