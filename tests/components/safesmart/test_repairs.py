"""Repairs: enrollment missing, the city's key changed (with fix flow)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.safesmart.const import CONF_CITY_FINGERPRINT, DOMAIN

from .fake_gateway import FakeGateway, wait_for

NEW_FINGERPRINT = "ffff eeee dddd cccc bbbb aaaa 9999 8888"


async def test_fingerprint_recorded_then_change_raises_fixable_issue(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The first fingerprint is stored; a new one needs the resident's confirmation."""
    entry = init_integration
    assert entry.data[CONF_CITY_FINGERPRINT] == gateway.health["city"]["fingerprint"]
    issue_id = f"city_key_changed_{entry.entry_id}"

    health = dict(gateway.health, city=dict(gateway.health["city"], fingerprint=NEW_FINGERPRINT))
    gateway.push("health", health)
    await wait_for(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.CRITICAL
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["new"] == NEW_FINGERPRINT

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"] == {"new": NEW_FINGERPRINT}
    resp = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await resp.json())["type"] == "create_entry"
    assert entry.data[CONF_CITY_FINGERPRINT] == NEW_FINGERPRINT
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_fix_flow_for_removed_entry(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """If the entry is gone before the fix, the flow aborts cleanly."""
    issue_id = f"city_key_changed_{init_integration.entry_id}"
    gateway.push(
        "health",
        dict(gateway.health, city=dict(gateway.health["city"], fingerprint=NEW_FINGERPRINT)),
    )
    registry = ir.async_get(hass)
    await wait_for(lambda: registry.async_get_issue(DOMAIN, issue_id) is not None)
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await resp.json()
    await hass.config_entries.async_remove(init_integration.entry_id)
    resp = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await resp.json())["reason"] == "entry_removed"


async def test_not_enrolled_issue(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An expired enrollment raises a warning that goes away once enrolled again."""
    issue_id = f"not_enrolled_{init_integration.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    gateway.push("health", dict(gateway.health, enrolled=False, city=None))
    await wait_for(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert not issue.is_fixable
    gateway.push("health", gateway.health)
    await wait_for(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None)
