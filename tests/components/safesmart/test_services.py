"""Actions: approve, decline, list_requests, get_preview, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.safesmart.const import CONF_ALLOWED_USERS, DOMAIN

from .fake_gateway import PNG, FakeGateway
from .helpers import state_of

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Previews are written into a throw-away configuration folder."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


async def call(
    hass: HomeAssistant,
    service: str,
    data: dict[str, object],
    *,
    return_response: bool = False,
    context: Context | None = None,
) -> object:
    """Call a SafeSmart action and wait for it."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, context=context, return_response=return_response
    )


async def test_approve_narrowed(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Cameras and a narrower window go to the gateway; the entities follow at once."""
    await call(
        hass,
        "approve",
        {
            "request_id": REQUEST_ID,
            "cameras": ["reg-front"],
            "window_start": "2026-11-20T22:05:00+00:00",
            "window_end": "2026-11-20T22:15:00+00:00",
        },
    )
    assert gateway.calls[-1] == (
        "POST",
        f"/api/v1/requests/{REQUEST_ID}/approve",
        {
            "cameras": ["reg-front"],
            "window": {"start": "2026-11-20T22:05:00+00:00", "end": "2026-11-20T22:15:00+00:00"},
        },
    )
    assert state_of(hass, "sensor.home_gateway_pending_requests").state == "0"
    assert state_of(hass, "event.home_gateway_footage_request").attributes["event_type"] == (
        "approved"
    )


async def test_decline_with_reply(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A reply goes to the gateway only when given."""
    await call(
        hass,
        "decline",
        {
            "config_entry_id": init_integration.entry_id,
            "request_id": REQUEST_ID,
            "reply": "Camera faces away from the street.",
        },
    )
    assert gateway.calls[-1][2] == {"reply": "Camera faces away from the street."}


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("approve", {"request_id": "nope"}, "unknown_request"),
        ("approve", {"request_id": REQUEST_ID, "cameras": ["reg-nope"]}, "unknown_cameras"),
        ("approve", {"request_id": REQUEST_ID, "cameras": []}, "unknown_cameras"),
        (
            "approve",
            {"request_id": REQUEST_ID, "window_start": "2026-11-20T21:00:00+00:00"},
            "window_outside_request",
        ),
        (
            "approve",
            {
                "request_id": REQUEST_ID,
                "window_start": "2026-11-20T22:20:00+00:00",
                "window_end": "2026-11-20T22:10:00+00:00",
            },
            "window_outside_request",
        ),
        ("decline", {"request_id": REQUEST_ID, "config_entry_id": "nope"}, "unknown_entry"),
        ("get_preview", {"request_id": "nope"}, "unknown_request"),
    ],
)
async def test_user_mistakes(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    service: str,
    data: dict[str, object],
    key: str,
) -> None:
    """Mistakes raise a translated ServiceValidationError and reach no gateway route."""
    calls = len(gateway.calls)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, service, data, return_response=service == "get_preview")
    assert err.value.translation_key == key
    assert len(gateway.calls) == calls


async def test_not_pending(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Deciding twice is a user mistake."""
    await call(hass, "approve", {"request_id": REQUEST_ID})
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "decline", {"request_id": REQUEST_ID})
    assert err.value.translation_key == "not_pending"


@pytest.mark.parametrize(
    ("status", "error", "key"),
    [
        (404, ServiceValidationError, "unknown_request"),
        (409, ServiceValidationError, "not_pending"),
        (422, ServiceValidationError, "invalid_selection"),
        (500, HomeAssistantError, "communication_error"),
        (401, HomeAssistantError, "invalid_auth"),
    ],
)
async def test_gateway_refusals(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    status: int,
    error: type[HomeAssistantError],
    key: str,
) -> None:
    """What the gateway refuses maps to translated errors."""
    gateway.fail_with = status
    with pytest.raises(error) as err:
        await call(hass, "approve", {"request_id": REQUEST_ID})
    assert err.value.translation_key == key


async def test_who_may_decide(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    hass_read_only_user: MockUser,
) -> None:
    """A non-admin may decide only if allowed in the options."""
    with pytest.raises(Unauthorized):
        await call(
            hass,
            "approve",
            {"request_id": REQUEST_ID},
            context=Context(user_id=hass_read_only_user.id),
        )
    assert not [c for c in gateway.calls if c[0] == "POST"]
    hass.config_entries.async_update_entry(
        init_integration, options={CONF_ALLOWED_USERS: [hass_read_only_user.id]}
    )
    await call(
        hass,
        "approve",
        {"request_id": REQUEST_ID},
        context=Context(user_id=hass_read_only_user.id),
    )
    assert gateway.requests[REQUEST_ID]["state"] == "approved"


async def test_admin_may_decide(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    hass_admin_user: MockUser,
) -> None:
    """An admin calling from the UI may decide."""
    await call(
        hass, "decline", {"request_id": REQUEST_ID}, context=Context(user_id=hass_admin_user.id)
    )
    assert gateway.requests[REQUEST_ID]["state"] == "declined"


async def test_list_requests(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """The list returns rule-ready fields, filtered by state, never the nonce."""
    response = await call(hass, "list_requests", {}, return_response=True)
    assert isinstance(response, dict)
    [item] = response["requests"]
    assert item["request_id"] == REQUEST_ID
    assert item["state"] == "pending"
    assert item["preview"] == "none"
    assert item["camera_states"] == {"reg-front": "pending", "reg-drive": "pending"}
    assert "approval_nonce" not in str(response)
    response = await call(hass, "list_requests", {"state": "delivered"}, return_response=True)
    assert response == {"requests": []}


async def test_get_preview(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """The PNG lands under www/safesmart and its /local/ address is returned."""
    response = await call(hass, "get_preview", {"request_id": REQUEST_ID}, return_response=True)
    assert response == {
        "path": hass.config.path("www", "safesmart", f"{REQUEST_ID}.png"),
        "url": f"/local/safesmart/{REQUEST_ID}.png",
    }
    assert await hass.async_add_executor_job(Path(response["path"]).read_bytes) == PNG


@pytest.mark.parametrize(("png", "key"), [(None, "no_preview"), (b"GIF89a", "communication_error")])
async def test_get_preview_missing_or_bad(
    hass: HomeAssistant,
    gateway: FakeGateway,
    init_integration: MockConfigEntry,
    png: bytes | None,
    key: str,
) -> None:
    """No preview yet is a user-facing notice; a non-PNG answer is a gateway error."""
    gateway.preview_png = png
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "get_preview", {"request_id": REQUEST_ID}, return_response=True)
    assert err.value.translation_key == key
    written = Path(hass.config.path("www", "safesmart", f"{REQUEST_ID}.png"))
    assert not await hass.async_add_executor_job(written.exists)


async def test_entry_choice(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Several gateways need a choice; an unloaded one or none at all is refused."""
    other = MockConfigEntry(domain=DOMAIN, unique_id="gw-2", title="Shop", data={})
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_requests", {"config_entry_id": other.entry_id}, return_response=True)
    assert err.value.translation_key == "entry_not_loaded"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_requests", {}, return_response=True)
    assert err.value.translation_key == "no_loaded_entry"


async def test_previews_deleted_with_last_gateway(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Removing the integration also removes the previews it saved."""
    response = await call(hass, "get_preview", {"request_id": REQUEST_ID}, return_response=True)
    assert isinstance(response, dict)
    saved = Path(response["path"])
    assert await hass.async_add_executor_job(saved.exists)
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not await hass.async_add_executor_job(saved.parent.exists)
