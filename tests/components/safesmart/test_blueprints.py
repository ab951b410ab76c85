"""The blueprints, loaded by Home Assistant's own blueprint machinery and driven by events."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockUser,
    async_fire_time_changed,
    async_mock_service,
)

from .fake_gateway import wait_for

BLUEPRINTS = Path(__file__).resolve().parents[3] / "blueprints"
REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A configuration folder holding the repository's blueprints."""
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.fixture
def safesmart_calls(hass: HomeAssistant) -> dict[str, list[ServiceCall]]:
    """Stand-ins for the integration's actions."""
    return {
        "approve": async_mock_service(hass, "safesmart", "approve"),
        "decline": async_mock_service(hass, "safesmart", "decline"),
    }


def request_event(**changes: Any) -> dict[str, Any]:
    """The safesmart_footage_request event data, as the integration fires it."""
    data: dict[str, Any] = {
        "config_entry_id": "entry-1",
        "gateway_id": "gw-6b2f0c1d",
        "request_id": REQUEST_ID,
        "tag": f"safesmart-{REQUEST_ID}",
        "state": "pending",
        "agency": "Cleveland Division of Police",
        "agency_id": "cle-pd",
        "case_number": "2026-031415",
        "incident_type": "burglary",
        "incident_description": "Rear door forced",
        "cameras": [
            {
                "registration_id": "reg-front",
                "name": "Front door",
                "distance_m": 120.5,
                "camera_entity_id": None,
            },
            {
                "registration_id": "reg-drive",
                "name": "Driveway",
                "distance_m": 88.2,
                "camera_entity_id": None,
            },
        ],
        "min_distance_m": 88.2,
        "window_start": "2026-11-20T22:00:00+00:00",
        "window_end": "2026-11-20T22:30:00+00:00",
        "window_minutes": 30,
        "legal_basis": "warrant",
        "respond_by": "2026-11-23T10:00:00+00:00",
        "received_at": "2026-11-21T10:00:00+00:00",
        "disclosures": {
            "retention_days": 90,
            "may_become_public_record": True,
            "may_be_asked_to_testify": False,
            "name_may_appear_in_court_documents": False,
            "notes": "",
        },
    }
    data.update(changes)
    return data


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    """Create one automation from a blueprint."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": name,
                "use_blueprint": {"path": f"safesmart/{name}.yaml", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get(f"automation.{name}")
    assert state is not None and state.state == "on", "blueprint did not load"


async def fire(hass: HomeAssistant, **changes: Any) -> None:
    """Fire a footage request and let automations run."""
    hass.bus.async_fire("safesmart_footage_request", request_event(**changes))
    await hass.async_block_till_done()


# --- auto_decline ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "event", "declined"),
    [
        ({"incident_types": ["vandalism"]}, {"incident_type": "vandalism"}, True),
        ({"incident_types": ["vandalism"]}, {}, False),
        ({"max_distance_m": 50}, {}, True),
        ({"max_distance_m": 100}, {}, False),
        ({"max_window_minutes": 20}, {}, True),
        ({"legal_bases": ["voluntary"]}, {"legal_basis": "voluntary"}, True),
        ({"legal_bases": ["voluntary"]}, {}, False),
    ],
)
async def test_auto_decline_rules(
    hass: HomeAssistant,
    safesmart_calls: dict[str, list[ServiceCall]],
    inputs: dict[str, Any],
    event: dict[str, Any],
    declined: bool,
) -> None:
    """Each rule declines what it names and nothing else."""
    await use_blueprint(hass, "auto_decline", inputs)
    await fire(hass, **event)
    assert len(safesmart_calls["decline"]) == int(declined)
    assert not safesmart_calls["approve"]
    if declined:
        assert safesmart_calls["decline"][0].data == {
            "request_id": REQUEST_ID,
            "config_entry_id": "entry-1",
        }


async def test_auto_decline_while_on_with_reply(
    hass: HomeAssistant, safesmart_calls: dict[str, list[ServiceCall]]
) -> None:
    """While the chosen helper is on, everything is declined, with the reply if given."""
    hass.states.async_set("input_boolean.no_sharing", "off")
    await use_blueprint(
        hass,
        "auto_decline",
        {"decline_while_on": ["input_boolean.no_sharing"], "reply": "No cameras face the street."},
    )
    await fire(hass)
    assert not safesmart_calls["decline"]
    hass.states.async_set("input_boolean.no_sharing", "on")
    await fire(hass)
    assert safesmart_calls["decline"][0].data["reply"] == "No cameras face the street."


# --- auto_approve ---------------------------------------------------------------------------


async def test_auto_approve_matches_and_tells(
    hass: HomeAssistant, safesmart_calls: dict[str, list[ServiceCall]]
) -> None:
    """A matching request is approved and the resident told what was shared."""
    told = async_mock_service(hass, "notify", "mobile_app_pixel")
    await use_blueprint(
        hass,
        "auto_approve",
        {"incident_types": ["burglary"], "notify_service": "notify.mobile_app_pixel"},
    )
    await fire(hass)
    assert [c.data for c in safesmart_calls["approve"]] == [
        {"config_entry_id": "entry-1", "request_id": REQUEST_ID}
    ]
    [note] = told
    assert note.data["title"] == "SafeSmart shared footage with Cleveland Division of Police"
    assert "cameras: Front door, Driveway" in note.data["message"]
    assert "kept 90 days" in note.data["message"]


@pytest.mark.parametrize(
    "event",
    [
        {"incident_type": "vandalism"},
        {"min_distance_m": 450.0},
        {"min_distance_m": None, "cameras": []},
        {"window_minutes": 240},
        {"legal_basis": "voluntary"},
    ],
)
async def test_auto_approve_leaves_the_rest(
    hass: HomeAssistant, safesmart_calls: dict[str, list[ServiceCall]], event: dict[str, Any]
) -> None:
    """Anything outside the rule stays pending for the resident."""
    told = async_mock_service(hass, "notify", "persistent_notification")
    await use_blueprint(hass, "auto_approve", {"incident_types": ["burglary"]})
    await fire(hass, **event)
    assert not safesmart_calls["approve"] and not told


# --- phone_approval -------------------------------------------------------------------------


@pytest.fixture
async def phone(
    hass: HomeAssistant, hass_admin_user: MockUser, safesmart_calls: dict[str, list[ServiceCall]]
) -> list[ServiceCall]:
    """A phone, one person allowed to decide, and the phone blueprint in use."""
    calls: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_pixel")
    assert await async_setup_component(hass, "system_log", {})  # always loaded in real installs
    hass.states.async_set("person.alex", "home", {"user_id": hass_admin_user.id})
    hass.states.async_set("person.guest", "home", {"user_id": "someone-else"})
    await use_blueprint(
        hass,
        "phone_approval",
        {
            "notify_service": "notify.mobile_app_pixel",
            "deciders": ["person.alex"],
            "answer_window": {"minutes": 30},
            "when_unanswered": "decline",
        },
    )
    # The run now waits for a tap, so do not wait for all tasks to finish here.
    hass.bus.async_fire("safesmart_footage_request", request_event())
    await wait_for(lambda: len(calls) == 1)
    return calls


def buttons(call: ServiceCall) -> dict[str, dict[str, Any]]:
    """The notification's buttons by title."""
    return {b["title"]: b for b in call.data["data"]["actions"]}


async def tap(hass: HomeAssistant, action: str, user_id: str) -> None:
    """What the Companion app fires on a tap."""
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": action}, context=Context(user_id=user_id)
    )
    await hass.async_block_till_done()


async def test_phone_approve(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    hass_admin_user: MockUser,
    safesmart_calls: dict[str, list[ServiceCall]],
) -> None:
    """Approve needs an unlocked phone and an allowed person; then the action is called."""
    sent = phone[0].data
    assert sent["title"] == "Footage request from Cleveland Division of Police"
    assert sent["data"]["tag"] == f"safesmart-{REQUEST_ID}"
    approve = buttons(phone[0])["Approve"]
    assert approve["authenticationRequired"] is True
    assert approve["action"].startswith("SAFESMARTBP_APPROVE_")
    await tap(hass, approve["action"], hass_admin_user.id)
    assert [c.data for c in safesmart_calls["approve"]] == [{"request_id": REQUEST_ID}]
    assert not safesmart_calls["decline"]


async def test_phone_decline(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    hass_admin_user: MockUser,
    safesmart_calls: dict[str, list[ServiceCall]],
) -> None:
    """Decline from the phone."""
    await tap(hass, buttons(phone[0])["Decline"]["action"], hass_admin_user.id)
    assert [c.data for c in safesmart_calls["decline"]] == [{"request_id": REQUEST_ID}]


async def test_phone_tap_from_someone_else_is_ignored(
    hass: HomeAssistant,
    phone: list[ServiceCall],
    safesmart_calls: dict[str, list[ServiceCall]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tap by a person who may not decide changes nothing and is logged."""
    await tap(hass, buttons(phone[0])["Approve"]["action"], "someone-else")
    assert not safesmart_calls["approve"] and not safesmart_calls["decline"]
    assert "from a person who may not decide" in caplog.text


async def test_phone_timeout_declines_and_clears(
    hass: HomeAssistant, phone: list[ServiceCall], safesmart_calls: dict[str, list[ServiceCall]]
) -> None:
    """Nobody answers: the request is declined and the notification cleared."""
    from homeassistant.util import dt as dt_util

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=31))
    await hass.async_block_till_done()
    assert [c.data for c in safesmart_calls["decline"]] == [{"request_id": REQUEST_ID}]
    assert phone[-1].data == {
        "message": "clear_notification",
        "data": {"tag": f"safesmart-{REQUEST_ID}"},
    }
