"""Phone taps: only the request's nonce, only allowed users, never twice."""

from __future__ import annotations

import pytest
from homeassistant.core import Context, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.safesmart.const import CONF_ALLOWED_USERS

from .fake_gateway import FakeGateway, wait_for

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"
NONCE = "Qm9vdHN0cmFwLW5vbmNlLWZvci10ZXN0cy0xMjM0NTY"
APPROVE = f"SAFESMART_APPROVE_{REQUEST_ID}_{NONCE}"
DECLINE = f"SAFESMART_DECLINE_{REQUEST_ID}_{NONCE}"


@pytest.fixture
async def allowed(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_admin_user: MockUser
) -> MockUser:
    """The admin user is the one allowed to decide from a phone."""
    hass.config_entries.async_update_entry(
        init_integration, options={CONF_ALLOWED_USERS: [hass_admin_user.id]}
    )
    return hass_admin_user


async def tap(hass: HomeAssistant, action: str, user_id: str | None) -> None:
    """Fire what the mobile_app webhook fires when a notification button is tapped."""
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": action}, context=Context(user_id=user_id)
    )
    await hass.async_block_till_done()


def decisions(gateway: FakeGateway) -> list[str]:
    """Paths of approve/decline calls the gateway received."""
    return [path for method, path, _ in gateway.calls if method == "POST"]


async def test_allowed_user_with_nonce_approves_once(
    hass: HomeAssistant,
    gateway: FakeGateway,
    allowed: MockUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The right nonce from an allowed user approves; the same tap again is a replay."""
    await tap(hass, APPROVE, allowed.id)
    assert decisions(gateway) == [f"/api/v1/requests/{REQUEST_ID}/approve"]
    assert gateway.requests[REQUEST_ID]["state"] == "approved"
    await tap(hass, APPROVE, allowed.id)
    assert len(decisions(gateway)) == 1
    assert "replayed" in caplog.text
    assert NONCE not in caplog.text


async def test_decline_from_phone(
    hass: HomeAssistant, gateway: FakeGateway, allowed: MockUser
) -> None:
    """Decline follows the same rules."""
    await tap(hass, DECLINE, allowed.id)
    assert decisions(gateway) == [f"/api/v1/requests/{REQUEST_ID}/decline"]


@pytest.mark.parametrize(
    ("action", "who", "log"),
    [
        (f"SAFESMART_APPROVE_{REQUEST_ID}_{'A' * 43}", "allowed", "wrong nonce"),
        (f"SAFESMART_APPROVE_{REQUEST_ID}_{NONCE[:-1]}", "allowed", "wrong nonce"),
        (APPROVE, "other", "may not decide"),
        (APPROVE, None, "may not decide"),
        ("SAFESMART_APPROVE_not-a-request", "allowed", "malformed"),
        (f"SAFESMART_APPROVE_{'0' * 8}-0000-4000-8000-{'0' * 12}_{NONCE}", "allowed", "unknown"),
    ],
)
async def test_refused_taps(
    hass: HomeAssistant,
    gateway: FakeGateway,
    allowed: MockUser,
    hass_read_only_user: MockUser,
    caplog: pytest.LogCaptureFixture,
    action: str,
    who: str | None,
    log: str,
) -> None:
    """Wrong nonce, other user, no user, malformed or unknown: ignored, logged, no call."""
    user_id = {"allowed": allowed.id, "other": hass_read_only_user.id, None: None}[who]
    await tap(hass, action, user_id)
    assert decisions(gateway) == []
    assert log in caplog.text
    # A refused tap does not spend the nonce: the real one still works.
    await tap(hass, APPROVE, allowed.id)
    assert len(decisions(gateway)) == 1


async def test_other_actions_ignored_silently(
    hass: HomeAssistant,
    gateway: FakeGateway,
    allowed: MockUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Actions of other automations are none of our business."""
    await tap(hass, "OPEN_GARAGE", allowed.id)
    hass.bus.async_fire("mobile_app_notification_action", {}, context=Context())
    await hass.async_block_till_done()
    assert decisions(gateway) == []
    assert "notification action" not in caplog.text


async def test_not_pending_and_gateway_failure(
    hass: HomeAssistant,
    gateway: FakeGateway,
    allowed: MockUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A decided request is not re-sent; a gateway failure is logged and the nonce is spent."""
    gateway.fail_with = 500
    await tap(hass, APPROVE, allowed.id)
    assert "Could not approve" in caplog.text
    gateway.fail_with = None
    await tap(hass, APPROVE, allowed.id)
    assert "replayed" in caplog.text
    assert decisions(gateway) == [f"/api/v1/requests/{REQUEST_ID}/approve"]


async def test_decided_request_ignored(
    hass: HomeAssistant,
    gateway: FakeGateway,
    allowed: MockUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tap on a request that was decided meanwhile does nothing."""
    gateway.push_request(dict(gateway.requests[REQUEST_ID], state="declined"))
    entry = hass.config_entries.async_entries("safesmart")[0]
    await wait_for(lambda: entry.runtime_data.data.requests[REQUEST_ID].state.value == "declined")
    await tap(hass, APPROVE, allowed.id)
    assert decisions(gateway) == []
    assert "no longer pending" in caplog.text
