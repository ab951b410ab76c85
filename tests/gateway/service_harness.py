"""Fixtures for the service tests: a test city on loopback and an initialised, enrolled gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.cameras import NewCamera, add_camera
from gateway.cityclient import CityClient
from gateway.config import DataLayout
from gateway.enrollment import enroll
from gateway.keys import create_api_token, load_or_create_device_key
from gateway.store import CameraRecord, GatewayStore, PinnedCity

from .city_double import ENROLL_CODE, CityDouble

FRONT = (41.4990, -81.6940)   # the incident point used by the tests is ~50 m away
DRIVE = (41.5010, -81.6960)


@dataclass
class CityServer:
    double: CityDouble
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@dataclass
class Gateway:
    layout: DataLayout
    key: Ed25519PrivateKey
    store: GatewayStore
    cameras: list[CameraRecord]

    @property
    def city(self) -> PinnedCity:
        pinned = self.store.pinned_city()
        assert pinned is not None
        return pinned

    @property
    def registration_ids(self) -> list[str]:
        return [c.registration_id for c in self.cameras if c.registration_id is not None]


@pytest.fixture
async def city() -> AsyncIterator[CityServer]:
    double = CityDouble()
    server = TestServer(double.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield CityServer(double, server)
    finally:
        await server.close()


def init_gateway(root: Path) -> tuple[DataLayout, Ed25519PrivateKey]:
    layout = DataLayout(root)
    layout.create()
    key, _ = load_or_create_device_key(layout.device_key)
    create_api_token(layout.api_token)
    return layout, key


async def enroll_gateway(root: Path, city: CityServer, *, cameras: bool = True) -> Gateway:
    layout, key = init_gateway(root)
    store = GatewayStore(layout.db)
    async with CityClient(city.url) as client:
        await enroll(store, key, client, code=ENROLL_CODE, label="test")
    records: list[CameraRecord] = []
    if cameras:
        pinned = store.pinned_city()
        assert pinned is not None
        async with CityClient(city.url, gateway_id=pinned.gateway_id, device_key=key) as client:
            for name, (lat, lon) in (("Front door", FRONT), ("Driveway", DRIVE)):
                records.append(await add_camera(store, key, client, NewCamera(
                    name=name, lat=lat, lon=lon, source="yard", device_id=name.lower())))
    return Gateway(layout, key, store, records)


@pytest.fixture
async def gateway(tmp_path: Path, city: CityServer) -> Gateway:
    return await enroll_gateway(tmp_path / "gw", city)
