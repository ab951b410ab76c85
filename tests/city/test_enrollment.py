"""Enrollment: one-time codes traded for a grant signed by the city key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.app import KEYS_KEY, STORE_KEY
from city.enrollment import CODE_LIFETIME, code_hash, create_code, new_code
from city.transparency import figures
from protocol.registration import EnrollmentGrant
from protocol.signing import Domain, SignedEnvelope, encode_public_key, verify
from protocol.timeutil import utcnow

from .conftest import Client, Gateway, city_public_key


def _request(code: str, key: Ed25519PrivateKey | None = None) -> dict[str, str]:
    key = key or Ed25519PrivateKey.generate()
    return {"code": code, "device_key": encode_public_key(key.public_key()), "label": "home"}


def _gateways(client: Client) -> int:
    assert client.app is not None
    count: int = figures(client.app[STORE_KEY])["gateways_enrolled"]
    return count


def test_codes_are_typable_and_normalised() -> None:
    code = new_code()
    assert len(code) == 14 and code.count("-") == 2
    assert code_hash(code) == code_hash(code.lower().replace("-", " - "))
    assert code_hash(code) != code_hash(new_code())


async def test_enrollment_grant_is_signed_by_the_city(client: Client) -> None:
    assert client.app is not None
    code, expires = create_code(client.app[STORE_KEY])
    assert expires - utcnow() > CODE_LIFETIME - timedelta(minutes=1)
    device = Ed25519PrivateKey.generate()
    response = await client.post("/v1/enroll", json=_request(code, device))
    assert response.status == 201
    envelope = SignedEnvelope.from_json(await response.json())
    grant = EnrollmentGrant.from_json(verify(envelope, city_public_key(client), Domain.ENROLLMENT))
    assert grant.city == client.app[KEYS_KEY].identity()
    assert client.app[STORE_KEY].gateway_key(grant.gateway_id) == device.public_key()


async def test_code_works_once(client: Client) -> None:
    assert client.app is not None
    code, _ = create_code(client.app[STORE_KEY])
    assert (await client.post("/v1/enroll", json=_request(code))).status == 201
    again = await client.post("/v1/enroll", json=_request(code))
    assert again.status == 403
    assert again.content_type == "application/problem+json"
    assert "already used" in (await again.json())["detail"]
    assert _gateways(client) == 1


async def test_wrong_and_expired_codes_store_nothing(client: Client) -> None:
    assert client.app is not None
    wrong = await client.post("/v1/enroll", json=_request(new_code()))
    assert wrong.status == 403
    old, _ = create_code(client.app[STORE_KEY], now=utcnow() - CODE_LIFETIME - timedelta(1))
    expired = await client.post("/v1/enroll", json=_request(old))
    assert expired.status == 403
    assert _gateways(client) == 0


async def test_malformed_enrollment_is_400(client: Client) -> None:
    assert client.app is not None
    code, _ = create_code(client.app[STORE_KEY])
    bad_key = await client.post(
        "/v1/enroll", json={"code": code, "device_key": "not-a-key", "label": "x"}
    )
    assert bad_key.status == 400
    extra = await client.post("/v1/enroll", json={**_request(code), "admin": True})
    assert extra.status == 400
    not_json = await client.post("/v1/enroll", data=b"{code")
    assert not_json.status == 400
    assert (await not_json.json())["status"] == 400
    # The code survived the bad attempts.
    assert (await client.post("/v1/enroll", json=_request(code))).status == 201


async def test_same_device_cannot_enroll_twice(
    client: Client, enroll: Callable[[], Awaitable[Gateway]]
) -> None:
    assert client.app is not None
    gateway = await enroll()
    code, _ = create_code(client.app[STORE_KEY])
    again = await client.post("/v1/enroll", json=_request(code, gateway.key))
    assert again.status == 409
    assert _gateways(client) == 1
    # The refused attempt did not use up the code.
    assert (await client.post("/v1/enroll", json=_request(code))).status == 201
