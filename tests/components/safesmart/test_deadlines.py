"""Unanswered requests: declined before respond-by only if the resident chose so."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.safesmart.const import CONF_UNANSWERED

from .fake_gateway import FakeGateway, wait_for
from .helpers import state_of

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"
RESPOND_BY = datetime.fromisoformat("2026-11-23T10:00:00+00:00")


@pytest.mark.parametrize(("choice", "declined"), [("decline", True), ("leave_pending", False)])
async def test_unanswered(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    choice: str,
    declined: bool,
) -> None:
    """A minute before respond-by the request is declined, or left to expire."""
    hass.config_entries.async_update_entry(init_integration, options={CONF_UNANSWERED: choice})
    async_fire_time_changed(hass, RESPOND_BY - timedelta(minutes=5))
    await hass.async_block_till_done()
    assert gateway.count("POST", f"/api/v1/requests/{REQUEST_ID}/decline") == 0
    async_fire_time_changed(hass, RESPOND_BY - timedelta(seconds=30))
    await hass.async_block_till_done()
    assert gateway.count("POST", f"/api/v1/requests/{REQUEST_ID}/decline") == int(declined)
    if declined:
        await wait_for(lambda: state_of(hass, "sensor.home_gateway_pending_requests").state == "0")


async def test_decided_request_needs_no_timer(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Once approved, the deadline is dropped."""
    hass.config_entries.async_update_entry(init_integration, options={CONF_UNANSWERED: "decline"})
    await hass.services.async_call(
        "safesmart", "approve", {"request_id": REQUEST_ID}, blocking=True
    )
    async_fire_time_changed(hass, RESPOND_BY)
    await hass.async_block_till_done()
    assert gateway.count("POST", f"/api/v1/requests/{REQUEST_ID}/decline") == 0


async def test_decline_failure_logged(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the gateway cannot decline, that is logged for the resident."""
    hass.config_entries.async_update_entry(init_integration, options={CONF_UNANSWERED: "decline"})
    gateway.fail_with = 500
    async_fire_time_changed(hass, RESPOND_BY)
    await hass.async_block_till_done()
    assert "Could not decline unanswered request" in caplog.text
