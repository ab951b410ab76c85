"""A new request: bus event without the nonce, persistent notification, phone prompts."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_capture_events,
    async_mock_service,
)

from custom_components.safesmart.const import (
    CONF_ALLOWED_USERS,
    CONF_CAMERA_MAP,
    CONF_NOTIFY_SERVICES,
    EVENT_FOOTAGE_REQUEST,
)

from .fake_gateway import FakeGateway, wait_for

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"


def new_request(gateway: FakeGateway, **changes: object) -> dict[str, Any]:
    """A fresh pending request built from the fixture."""
    request = copy.deepcopy(gateway.requests[REQUEST_ID])
    request.update(id=str(uuid.uuid4()), approval_nonce="N" * 40 + "_-x", **changes)
    return request


def notifications(hass: HomeAssistant) -> dict[str, persistent_notification.Notification]:
    """Current persistent notifications by id."""
    return dict(persistent_notification._async_get_or_create_notifications(hass))


async def test_existing_pending_request_shown_without_event(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """At start-up a pending request gets a notification, but no event and no phone call."""
    shown = notifications(hass)[f"safesmart_{REQUEST_ID}"]
    assert shown["title"] == "SafeSmart: footage request from Cleveland Division of Police"
    message = shown["message"]
    assert "case 2026-031415 (burglary)" in message
    assert "Front door (120 m), Driveway (88 m)" in message
    assert "Legal basis: voluntary" in message
    assert "Kept for 90 days; may become a public record: yes" in message
    assert "you may be asked to testify: no" in message
    assert "City's notes: Footage is kept in the evidence system only." in message
    assert "Qm9vdHN0" not in message  # the nonce
    assert "a.rivera@example.org" not in message


async def test_new_request_announced(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    hass_admin_user: MockUser,
) -> None:
    """A new request fires the bus event, shows a notification and prompts each phone."""
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    hass.config_entries.async_update_entry(
        init_integration,
        options={
            CONF_NOTIFY_SERVICES: ["notify.mobile_app_pixel"],
            CONF_ALLOWED_USERS: [hass_admin_user.id],
            CONF_CAMERA_MAP: {"reg-drive": "camera.driveway"},
        },
    )
    events = async_capture_events(hass, EVENT_FOOTAGE_REQUEST)
    request = new_request(gateway)
    gateway.push_request(request)
    await wait_for(lambda: len(events) == 1 and len(phone) == 1)

    data = events[0].data
    assert data["request_id"] == request["id"]
    assert data["tag"] == f"safesmart-{request['id']}"
    assert data["gateway_id"] == "gw-6b2f0c1d"
    assert data["incident_type"] == "burglary"
    assert data["min_distance_m"] == 88.2
    assert data["window_minutes"] == 30
    assert data["legal_basis"] == "voluntary"
    assert data["agency"] == "Cleveland Division of Police"
    assert data["respond_by"] == "2026-11-23T10:00:00+00:00"
    assert data["disclosures"]["may_become_public_record"] is True
    assert data["cameras"][1] == {
        "registration_id": "reg-drive",
        "name": "Driveway",
        "distance_m": 88.2,
        "camera_entity_id": "camera.driveway",
    }
    assert request["approval_nonce"] not in str(data)
    assert "officer" not in data

    assert f"safesmart_{request['id']}" in notifications(hass)
    call = phone[0].data
    assert call["title"] == "Footage request"
    assert call["data"]["tag"] == f"safesmart-{request['id']}"
    assert call["data"]["image"] == "/api/camera_proxy/camera.driveway"
    approve, decline = call["data"]["actions"]
    assert approve == {
        "action": f"SAFESMART_APPROVE_{request['id']}_{request['approval_nonce']}",
        "title": "Approve",
        "authenticationRequired": True,
    }
    assert decline["action"] == f"SAFESMART_DECLINE_{request['id']}_{request['approval_nonce']}"

    # Once decided elsewhere, the notification goes away and the phone prompt is cleared.
    decided = dict(request, state="declined", decided_by="rule:night")
    gateway.push_request(decided)
    await wait_for(lambda: len(phone) == 2)
    assert phone[1].data == {
        "message": "clear_notification",
        "data": {"tag": f"safesmart-{request['id']}"},
    }
    assert f"safesmart_{request['id']}" not in notifications(hass)


async def test_broken_phone_does_not_stop_others(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A phone service that fails is logged; the other phones still get the prompt."""
    good = async_mock_service(hass, "notify", "mobile_app_good")
    hass.config_entries.async_update_entry(
        init_integration,
        options={CONF_NOTIFY_SERVICES: ["notify.mobile_app_gone", "notify.mobile_app_good"]},
    )
    gateway.push_request(new_request(gateway))
    await wait_for(lambda: len(good) == 1)
    await hass.async_block_till_done()
    assert "Could not notify notify.mobile_app_gone" in caplog.text
