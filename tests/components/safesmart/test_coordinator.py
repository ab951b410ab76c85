"""The live stream: loss and recovery, backoff, resync, reauth and the unreachable repair."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Generator
from datetime import timedelta
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.safesmart.const import DOMAIN, EVENT_FOOTAGE_REQUEST

from .fake_gateway import FakeGateway, wait_for
from .helpers import state_of

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"
PENDING = "sensor.home_gateway_pending_requests"
GATEWAY = "binary_sensor.home_gateway_gateway"


@pytest.fixture(autouse=True)
def fast_backoff() -> Generator[None]:
    """Reconnect within milliseconds so the tests stay short."""
    with (
        patch("custom_components.safesmart.coordinator.RECONNECT_MIN_S", 0.01),
        patch("custom_components.safesmart.coordinator.RECONNECT_MAX_S", 0.05),
    ):
        yield


def lost_warnings(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the loss was logged."""
    return sum("Lost connection" in r.getMessage() for r in caplog.records)


async def test_loss_and_recovery(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities go unavailable on loss, log once, and come back with one recovery line."""
    caplog.set_level(logging.INFO)
    gateway.fail_with = 503
    gateway.refuse_streams = True
    gateway.end_streams()
    await wait_for(lambda: state_of(hass, PENDING).state == "unavailable")
    assert state_of(hass, GATEWAY).state == "off"
    attempts = len(gateway.calls)
    await wait_for(lambda: len(gateway.calls) >= attempts + 3)  # it keeps retrying
    assert lost_warnings(caplog) == 1

    # A request arrived while Home Assistant could not listen: announced after resync.
    events = async_capture_events(hass, EVENT_FOOTAGE_REQUEST)
    missed = copy.deepcopy(gateway.requests[REQUEST_ID])
    missed["id"] = str(uuid.uuid4())
    gateway.requests[missed["id"]] = missed
    gateway.fail_with = None
    gateway.refuse_streams = False
    await wait_for(lambda: state_of(hass, PENDING).state == "2")
    await wait_for(lambda: len(events) == 1)
    assert events[0].data["request_id"] == missed["id"]
    assert state_of(hass, GATEWAY).state == "on"
    assert lost_warnings(caplog) == 1
    assert sum("recovered" in r.getMessage() for r in caplog.records) == 1


async def test_clean_close_reconnects(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway restart closes the stream; the integration reconnects by itself."""
    gateway.stream_opened.clear()
    gateway.end_streams()
    await gateway.stream_opened.wait()
    await wait_for(lambda: state_of(hass, PENDING).state == "1")
    assert "closed the event stream" in caplog.text


async def test_long_outage_raises_repair(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An outage longer than the limit raises a repair; recovery withdraws it."""
    issue_id = f"gateway_unreachable_{init_integration.entry_id}"
    with patch("custom_components.safesmart.coordinator.UNREACHABLE_ISSUE_AFTER", timedelta(0)):
        gateway.refuse_streams = True
        gateway.fail_with = 503
        gateway.end_streams()
        await wait_for(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
        gateway.refuse_streams = False
        gateway.fail_with = None
        await wait_for(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None)


async def test_rejected_token_on_stream_starts_reauth(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A rotated token stops the stream and asks the resident for the new one."""
    gateway.token = "rotated"  # noqa: S105 - a test token
    gateway.end_streams()
    await wait_for(lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)))
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert state_of(hass, PENDING).state == "unavailable"


@pytest.mark.parametrize(
    ("breakage", "state"),
    [("token", ConfigEntryState.SETUP_ERROR), ("down", ConfigEntryState.SETUP_RETRY)],
)
async def test_setup_failures(
    hass: HomeAssistant,
    gateway: FakeGateway,
    mock_config_entry: MockConfigEntry,
    breakage: str,
    state: ConfigEntryState,
) -> None:
    """A wrong token needs reauth; an unreachable gateway is retried later."""
    if breakage == "token":
        gateway.token = "rotated"  # noqa: S105 - a test token
    else:
        gateway.fail_with = 503
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is state


async def test_malformed_event_is_a_connection_problem(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request event that breaks the contract is refused, logged and the stream reopened."""
    gateway.stream_opened.clear()
    gateway.push("request", dict(gateway.requests[REQUEST_ID], state="sideways"))
    await gateway.stream_opened.wait()
    await wait_for(lambda: state_of(hass, PENDING).state == "1")
    assert "Gateway sent an unknown state: 'sideways'" in caplog.text
