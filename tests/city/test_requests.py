"""Issuing footage requests (caps, one per gateway) and the long-poll feed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from city.app import STORE_KEY
from city.transparency import figures
from protocol.geo import GeoPoint
from protocol.messages import FootageRequest
from protocol.signing import Domain, SignedEnvelope, verify
from protocol.timeutil import format_time, utcnow

from .conftest import CENTRE, Client, Gateway, city_public_key, issue_body

type Enroll = Callable[[], Awaitable[Gateway]]
NEAR = GeoPoint(CENTRE.lat + 0.001, CENTRE.lon)
FAR = GeoPoint(CENTRE.lat + 0.05, CENTRE.lon)


async def _issue(client: Client, admin: dict[str, str], body: dict[str, Any]) -> Any:
    response = await client.post("/v1/admin/requests", json=body, headers=admin)
    return response.status, await response.json()


async def _feed(gateway: Gateway, cursor: int = 0, wait: int = 0) -> dict[str, Any]:
    response = await gateway.call("GET", f"/v1/feed?cursor={cursor}&wait={wait}")
    assert response.status == 200, await response.text()
    page: dict[str, Any] = await response.json()
    return page


def _issued(client: Client) -> int:
    assert client.app is not None
    total: int = figures(client.app[STORE_KEY])["requests_issued"]["total"]
    return total


async def test_one_signed_request_per_gateway_with_only_its_cameras(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    alice, bob, carol = await enroll(), await enroll(), await enroll()
    a1, a2 = await alice.register("a1", CENTRE), await alice.register("a2", NEAR)
    b1 = await bob.register("b1", NEAR)
    await carol.register("c1", FAR)
    status, answer = await _issue(client, admin, issue_body())
    assert status == 201, answer
    by_gateway = {item["gateway_id"]: item for item in answer["requests"]}
    assert set(by_gateway) == {alice.gateway_id, bob.gateway_id}
    assert by_gateway[alice.gateway_id]["registration_ids"] == [a1, a2]
    assert by_gateway[bob.gateway_id]["registration_ids"] == [b1]

    page = await _feed(bob)
    assert len(page["requests"]) == 1
    envelope = SignedEnvelope.from_json(page["requests"][0])
    message = FootageRequest.from_json(
        verify(envelope, city_public_key(client), Domain.FOOTAGE_REQUEST)
    )
    assert message.registration_ids == (b1,)  # never another resident's ids
    assert message.request_id == by_gateway[bob.gateway_id]["request_id"]
    assert message.case_number == "2026-0001234"
    assert (await _feed(carol))["requests"] == []


async def test_named_cameras_must_be_in_the_area(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway = await enroll()
    near, far = await gateway.register("near", NEAR), await gateway.register("far", FAR)
    status, answer = await _issue(client, admin, issue_body(registration_ids=[near]))
    assert status == 201 and answer["requests"][0]["registration_ids"] == [near]
    status, answer = await _issue(client, admin, issue_body(registration_ids=[near, far]))
    assert status == 422 and far in answer["detail"]
    assert _issued(client) == 1


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"incident_radius": 801.0}, "radius"),
        ({"window_hours": 12.5}, "cap"),
        ({"window_end_in": timedelta(minutes=5)}, "future"),
        ({"respond_by_in": timedelta(minutes=-1)}, "respond_by"),
    ],
)
async def test_caps_are_422_and_issue_nothing(
    client: Client, enroll: Enroll, admin: dict[str, str], change: dict[str, Any], needle: str
) -> None:
    gateway = await enroll()
    await gateway.register("cam", CENTRE)
    now = utcnow()
    body = issue_body(radius_m=change.get("incident_radius", 300.0))
    if "window_hours" in change:
        end = now - timedelta(minutes=1)
        start = end - timedelta(hours=change["window_hours"])
        body["window"] = {"start": format_time(start), "end": format_time(end)}
    if "window_end_in" in change:
        end = now + change["window_end_in"]
        body["window"] = {"start": format_time(end - timedelta(hours=1)), "end": format_time(end)}
    if "respond_by_in" in change:
        body["respond_by"] = format_time(now + change["respond_by_in"])
    status, answer = await _issue(client, admin, body)
    assert status == 422, answer
    assert needle in answer["detail"]
    assert _issued(client) == 0
    assert (await _feed(gateway))["requests"] == []


async def test_malformed_issue_is_400_and_empty_area_is_422(
    client: Client, admin: dict[str, str]
) -> None:
    status, _ = await _issue(client, admin, {**issue_body(), "legal_basis": "because"})
    assert status == 400
    status, _ = await _issue(client, admin, {**issue_body(), "surprise": 1})
    assert status == 400
    status, answer = await _issue(client, admin, issue_body())
    assert status == 422 and "no registered camera" in answer["detail"]


async def test_feed_respects_the_cursor(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway = await enroll()
    await gateway.register("cam", CENTRE)
    for _ in range(3):
        assert (await _issue(client, admin, issue_body()))[0] == 201
    page = await _feed(gateway)
    assert len(page["requests"]) == 3
    ids = [r["body"]["request_id"] for r in page["requests"]]
    empty = await _feed(gateway, cursor=page["cursor"])
    assert empty == {"requests": [], "cursor": page["cursor"]}
    assert (await _issue(client, admin, issue_body()))[0] == 201
    newer = await _feed(gateway, cursor=page["cursor"])
    assert len(newer["requests"]) == 1 and newer["requests"][0]["body"]["request_id"] not in ids
    assert newer["cursor"] > page["cursor"]


async def test_feed_long_poll_wakes_on_issue(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway, other = await enroll(), await enroll()
    await gateway.register("cam", CENTRE)
    await other.register("far", FAR)
    waiting = asyncio.create_task(_feed(gateway, wait=30))
    other_waiting = asyncio.create_task(_feed(other, wait=2))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    assert (await _issue(client, admin, issue_body()))[0] == 201
    page = await asyncio.wait_for(waiting, 10)
    # Woken by the issue, not by the 30 s timeout (bounded here; the latency is a benchmark).
    assert asyncio.get_running_loop().time() - started < 10
    assert len(page["requests"]) == 1
    # The other gateway's poll was not answered: nothing was issued to it.
    assert (await asyncio.wait_for(other_waiting, 10))["requests"] == []


async def test_feed_parameters_are_checked(enroll: Enroll) -> None:
    gateway = await enroll()
    for query in ("wait=31", "cursor=-1", "cursor=abc", "wait=1.5"):
        response = await gateway.call("GET", f"/v1/feed?{query}")
        assert response.status == 400, query
        assert response.content_type == "application/problem+json"


async def test_shutdown_answers_waiting_long_polls(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    waiting = asyncio.create_task(_feed(gateway, wait=30))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert client.app is not None
    await client.app.shutdown()
    page = await asyncio.wait_for(waiting, 5)
    assert page == {"requests": [], "cursor": 0}
