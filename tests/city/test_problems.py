"""Bad bodies: oversized is 413, malformed is 400, always as problem documents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import ClientResponse

from city.app import STORE_KEY
from city.problems import MAX_JSON_BODY
from city.transparency import figures
from protocol.signing import Domain, sign

from .conftest import CENTRE, Client, Gateway

type Enroll = Callable[[], Awaitable[Gateway]]


async def _problem(response: ClientResponse, status: int) -> None:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    document = await response.json()
    assert set(document) == {"type", "title", "status", "detail"}
    assert document["status"] == status


async def test_oversized_bodies_are_413(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    huge = {"pad": "x" * (MAX_JSON_BODY + 1)}
    await _problem(await gateway.call("POST", "/v1/cameras", huge), 413)
    await _problem(await client.post("/v1/enroll", json=huge), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the streamed check
        for _ in range(20):
            yield b"x" * 8192

    await _problem(await client.post("/v1/enroll", data=chunks()), 413)
    assert client.app is not None
    assert figures(client.app[STORE_KEY])["cameras_registered"] == 0


async def test_malformed_bodies_are_400(client: Client, enroll: Enroll) -> None:
    gateway = await enroll()
    payloads: list[object] = [[], {"domain": "camera-registration"}, "text", None]
    for payload in payloads:
        await _problem(await gateway.call("POST", "/v1/cameras", payload), 400)
    registration = gateway.registration("c", CENTRE)
    registration["body"]["location"]["point"]["lat"] = 123.0
    resigned = gateway.registration("c", CENTRE)
    # A valid envelope around a body that does not parse as a CameraRegistration.
    bad = sign(gateway.key, Domain.CAMERA_REGISTRATION, {**resigned["body"], "extra": 1})
    await _problem(await gateway.call("POST", "/v1/cameras", bad.to_json()), 400)
    # Signed for another purpose: not a registration.
    wrong_domain = sign(gateway.key, Domain.DECLINE_REPLY, resigned["body"])
    await _problem(await gateway.call("POST", "/v1/cameras", wrong_domain.to_json()), 401)
    # A tampered envelope body: the signature no longer verifies.
    await _problem(await gateway.call("POST", "/v1/cameras", registration), 401)
    assert client.app is not None
    assert figures(client.app[STORE_KEY])["cameras_registered"] == 0
