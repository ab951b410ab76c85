"""Signed gateway requests and the admin token: every failure is a 401 problem, state unchanged."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from aiohttp import ClientResponse
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.app import STORE_KEY
from city.auth import Caller, caller_for
from city.transparency import figures
from protocol.timeutil import utcnow

from .conftest import CENTRE, Client, Gateway

type Enroll = Callable[[], Awaitable[Gateway]]


def _cameras(client: Client) -> int:
    assert client.app is not None
    count: int = figures(client.app[STORE_KEY])["cameras_registered"]
    return count


async def _assert_401(response: ClientResponse) -> None:
    assert response.status == 401, await response.text()
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == 401 and problem["title"] and problem["detail"]


def test_route_classes() -> None:
    assert caller_for("POST", "/v1/enroll") is Caller.PUBLIC
    assert caller_for("GET", "/v1/transparency") is Caller.PUBLIC
    assert caller_for("GET", "/v1/admin/cameras/search") is Caller.ADMIN
    assert caller_for("PATCH", "/v1/uploads/abc") is Caller.UPLOAD
    assert caller_for("GET", "/v1/feed") is Caller.GATEWAY
    assert caller_for("GET", "/v1/uploadsX") is Caller.GATEWAY


async def test_signed_request_is_accepted(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    await gateway.register("cam-1", CENTRE)
    assert _cameras(client) == 1


async def test_unsigned_request_is_401(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    await _assert_401(await client.post("/v1/cameras", json=gateway.registration("c", CENTRE)))
    await _assert_401(await client.get("/v1/feed"))
    assert _cameras(client) == 0


async def test_wrong_key_is_401(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    impostor = Gateway(client, key=Ed25519PrivateKey.generate(), gateway_id=gateway.gateway_id)
    await _assert_401(await impostor.call("POST", "/v1/cameras", gateway.registration("c", CENTRE)))
    unknown = Gateway(client, gateway_id="00000000-0000-4000-8000-000000000000")
    await _assert_401(await unknown.call("GET", "/v1/feed"))
    assert _cameras(client) == 0


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
async def test_stale_or_future_timestamp_is_401(
    client: Client, enroll: Enroll, skew: timedelta
) -> None:
    gateway = await enroll()
    body = json.dumps(gateway.registration("c", CENTRE)).encode()
    headers = gateway.headers("POST", "/v1/cameras", body, now=utcnow() + skew)
    await _assert_401(await client.post("/v1/cameras", data=body, headers=headers))
    assert _cameras(client) == 0


async def test_tampered_body_path_or_method_is_401(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    body = json.dumps(gateway.registration("c", CENTRE)).encode()
    headers = gateway.headers("POST", "/v1/cameras", body)
    tampered = body.replace(b"Front door", b"Front dooR")
    await _assert_401(await client.post("/v1/cameras", data=tampered, headers=headers))
    feed = gateway.headers("GET", "/v1/feed?cursor=0", b"")
    await _assert_401(await client.get("/v1/feed?cursor=5", headers=feed))
    assert _cameras(client) == 0
    registration_id = await gateway.register("c", CENTRE)
    delete = gateway.headers("DELETE", f"/v1/cameras/{registration_id}", b"")
    await _assert_401(await client.put(f"/v1/cameras/{registration_id}", data=body, headers=delete))
    await _assert_401(await client.delete("/v1/cameras/other", headers=delete))
    assert _cameras(client) == 1


async def test_admin_routes_need_the_token(
    client: Client, admin: dict[str, str], enroll: Enroll
) -> None:
    path = f"/v1/admin/cameras/search?lat={CENTRE.lat}&lon={CENTRE.lon}&radius_m=100"
    await _assert_401(await client.get(path))
    await _assert_401(await client.get(path, headers={"Authorization": "Bearer wrong"}))
    await _assert_401(await client.get(path, headers={"Authorization": "Basic x"}))
    # A gateway's signature is no admin credential.
    gateway = await enroll()
    await _assert_401(await gateway.call("GET", path))
    assert (await client.get(path, headers=admin)).status == 200


async def test_unknown_route_is_404_problem(client: Client) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    wrong_method = await client.get("/v1/enroll")
    assert wrong_method.status == 405
    assert wrong_method.content_type == "application/problem+json"
    assert wrong_method.headers["Allow"] == "POST"
