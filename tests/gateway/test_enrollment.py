"""Enrollment pins the city's keys; a mismatch or forgery stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.cityclient import CityClient, CityRejectedError
from gateway.enrollment import EnrollmentError, enroll
from gateway.store import GatewayStore
from protocol.signing import display_fingerprint, key_id

from .city_double import CITY_ID, ENROLL_CODE
from .service_harness import CityServer, city, init_gateway

__all__ = ["city"]


def _fingerprint(key: Ed25519PrivateKey) -> str:
    return display_fingerprint(key_id(key.public_key()))


async def test_enroll_pins_the_city(tmp_path: Path, city: CityServer) -> None:
    layout, key = init_gateway(tmp_path)
    store = GatewayStore(layout.db)
    expected = _fingerprint(city.double.signing)
    async with CityClient(city.url) as client:
        result = await enroll(store, key, client, code=ENROLL_CODE, label="home",
                              expect_fingerprint=expected.upper())
    pinned = store.pinned_city()
    assert pinned == result.city
    assert pinned.city_id == CITY_ID and pinned.fingerprint == expected
    assert pinned.gateway_id in city.double.gateways
    assert pinned.url == city.url


async def test_fingerprint_mismatch_stores_nothing(tmp_path: Path, city: CityServer) -> None:
    layout, key = init_gateway(tmp_path)
    store = GatewayStore(layout.db)
    other = _fingerprint(Ed25519PrivateKey.generate())
    async with CityClient(city.url) as client:
        with pytest.raises(EnrollmentError, match="not the one you expected"):
            await enroll(store, key, client, code=ENROLL_CODE, label="home",
                         expect_fingerprint=other)
    assert store.pinned_city() is None


async def test_forged_grant_stores_nothing(tmp_path: Path, city: CityServer) -> None:
    city.double.grant_signer = Ed25519PrivateKey.generate()   # signed by a key it does not carry
    layout, key = init_gateway(tmp_path)
    store = GatewayStore(layout.db)
    async with CityClient(city.url) as client:
        with pytest.raises(EnrollmentError, match="not valid"):
            await enroll(store, key, client, code=ENROLL_CODE, label="home")
    assert store.pinned_city() is None


async def test_wrong_code_is_the_citys_refusal(tmp_path: Path, city: CityServer) -> None:
    layout, key = init_gateway(tmp_path)
    store = GatewayStore(layout.db)
    async with CityClient(city.url) as client:
        with pytest.raises(CityRejectedError, match="enrollment code is not valid"):
            await enroll(store, key, client, code="WRONG", label="home")
    assert store.pinned_city() is None


async def test_reenrolling_with_a_different_key_needs_replace(
    tmp_path: Path, city: CityServer
) -> None:
    layout, key = init_gateway(tmp_path)
    store = GatewayStore(layout.db)
    async with CityClient(city.url) as client:
        await enroll(store, key, client, code=ENROLL_CODE, label="home")
        first = store.pinned_city()
        city.double.signing = Ed25519PrivateKey.generate()
        with pytest.raises(EnrollmentError, match="--replace"):
            await enroll(store, key, client, code=ENROLL_CODE, label="home")
        assert store.pinned_city() == first
        result = await enroll(store, key, client, code=ENROLL_CODE, label="home", replace=True)
    assert result.replaced == first
    assert store.pinned_city() == result.city != first
