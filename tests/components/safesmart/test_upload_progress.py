"""The per-camera Upload progress sensor, fed by request events from the gateway."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.safesmart.client import Request, SafeSmartResponseError

from .fake_gateway import FakeGateway, fixture, wait_for
from .helpers import state_of

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"
FRONT = "sensor.front_door_upload_progress"
DRIVE = "sensor.driveway_upload_progress"


def with_cameras(request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `request` whose cameras take the (state, progress) given by registration id."""
    changed = copy.deepcopy(request)
    for camera in changed["cameras"]:
        if (change := changes.get(camera["registration_id"].removeprefix("reg-"))) is not None:
            camera["state"], camera["progress"] = change
    changed["state"] = "uploading"
    return changed


async def test_progress_follows_the_answer(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """Unknown while pending, 0 % when approved, the share uploaded, unknown once done."""
    state = state_of(hass, FRONT)
    assert state.state == "unknown"
    assert state.attributes["unit_of_measurement"] == "%"
    request = gateway.requests[REQUEST_ID]

    gateway.push_request(with_cameras(request, front=("approved", 0.0), drive=("declined", None)))
    await wait_for(lambda: state_of(hass, FRONT).state == "0.0")
    assert state_of(hass, DRIVE).state == "unknown"
    gateway.push_request(with_cameras(request, front=("uploading", 0.4975),
                                      drive=("declined", None)))
    await wait_for(lambda: state_of(hass, FRONT).state == "49.8")
    gateway.push_request(with_cameras(request, front=("delivered", 1.0),
                                      drive=("declined", None)))
    await wait_for(lambda: state_of(hass, FRONT).state == "unknown")


async def test_the_newest_answer_in_progress_counts(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """With two answers under way for one camera, the most recently received one shows."""
    older = with_cameras(gateway.requests[REQUEST_ID], front=("uploading", 0.9))
    newer = with_cameras(older, front=("uploading", 0.2))
    newer.update(id="0b5e6f70-1a2b-4c3d-8e9f-a0b1c2d3e4f5", received_at="2026-11-21T11:00:00Z")
    gateway.push_request(newer)
    gateway.push_request(older)
    await wait_for(lambda: state_of(hass, FRONT).state == "20.0")


async def test_an_older_gateway_without_progress(
    hass: HomeAssistant, gateway: FakeGateway, init_integration: MockConfigEntry
) -> None:
    """A gateway that does not send progress leaves the sensor unknown, nothing breaks."""
    request = with_cameras(gateway.requests[REQUEST_ID], front=("uploading", None))
    del request["cameras"][0]["progress"]
    gateway.push_request(request)
    await wait_for(
        lambda: state_of(hass, "sensor.home_gateway_uploads_in_progress").state == "1"
    )
    assert state_of(hass, FRONT).state == "unknown"


def test_client_parses_progress_strictly() -> None:
    """Absent or null is None; a number from 0 to 1 is kept; anything else is refused."""
    document = fixture("request.json")
    assert Request.from_json(document).cameras[0].progress is None      # older gateway
    document["cameras"][0]["progress"] = 0.25
    assert Request.from_json(document).cameras[0].progress == 0.25
    document["cameras"][0]["progress"] = 1
    assert Request.from_json(document).cameras[0].progress == 1.0
    for bad in (1.5, -0.1, True, "0.5"):
        document["cameras"][0]["progress"] = bad
        with pytest.raises(SafeSmartResponseError, match="progress"):
            Request.from_json(document)
