"""Fixtures for the city endpoint: a real app on 127.0.0.1 and simulated gateways."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.app import KEYS_KEY, STORE_KEY, create_app
from city.config import CityConfig, initialise
from city.enrollment import create_code
from protocol.geo import GeoPoint
from protocol.httpauth import sign_http_request
from protocol.registration import CameraLocation, CameraRegistration, LocationPrecision
from protocol.signing import Domain, SignedEnvelope, encode_public_key, sign
from protocol.timeutil import format_time, utcnow

type Client = TestClient[web.Request, web.Application]
CENTRE = GeoPoint(41.4993, -81.6944)


@pytest.fixture
def config(tmp_path: Path) -> CityConfig:
    return initialise(tmp_path / "city-data", "Testville")[0]


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]], config: CityConfig
) -> Client:
    return await aiohttp_client(create_app(config))


@pytest.fixture
def admin(config: CityConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.admin_token}"}


@dataclass
class Gateway:
    """A simulated resident gateway: a device key and the signed calls it makes."""

    client: Client
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    gateway_id: str = ""
    cameras: dict[str, str] = field(default_factory=dict)

    def headers(self, method: str, path_qs: str, body: bytes, **kw: Any) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        return sign_http_request(self.key, self.gateway_id, method, path_qs, digest, **kw)

    async def call(self, method: str, path_qs: str, payload: object = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        response = await self.client.request(
            method, path_qs, data=body or None, headers=self.headers(method, path_qs, body)
        )
        return response

    def registration(
        self, camera_id: str, point: GeoPoint, name: str = "Front door"
    ) -> dict[str, Any]:
        message = CameraRegistration(
            self.gateway_id, camera_id, name, CameraLocation(point, LocationPrecision.EXACT)
        )
        return sign(self.key, Domain.CAMERA_REGISTRATION, message.to_json()).to_json()

    async def register(self, camera_id: str, point: GeoPoint) -> str:
        response = await self.call("POST", "/v1/cameras", self.registration(camera_id, point))
        assert response.status in (200, 201), await response.text()
        registration_id: str = (await response.json())["registration_id"]
        self.cameras[camera_id] = registration_id
        return registration_id


@pytest.fixture
def enroll(client: Client) -> Callable[[], Awaitable[Gateway]]:
    """Enroll a fresh gateway through the real `POST /v1/enroll` route."""

    async def _enroll() -> Gateway:
        assert client.app is not None
        code, _ = create_code(client.app[STORE_KEY])
        gateway = Gateway(client)
        response = await client.post(
            "/v1/enroll",
            json={"code": code, "device_key": encode_public_key(gateway.key.public_key()),
                  "label": "test"},
        )  # fmt: skip
        assert response.status == 201, await response.text()
        envelope = SignedEnvelope.from_json(await response.json())
        gateway.gateway_id = envelope.body["gateway_id"]
        return gateway

    return _enroll


def city_public_key(client: Client) -> Any:
    assert client.app is not None
    return client.app[KEYS_KEY].signing.public_key()


def issue_body(
    point: GeoPoint = CENTRE, radius_m: float = 300.0, now: datetime | None = None, **overrides: Any
) -> dict[str, Any]:
    """A valid admin request body; `overrides` replace top-level fields."""
    now = now or utcnow()
    body: dict[str, Any] = {
        "case_number": "2026-0001234",
        "agency": {"name": "Testville Police", "id": "TPD"},
        "officer": {"name": "Det. Rivera", "badge": "1234", "email": "rivera@example.org",
                    "phone": "+1 555 0100"},
        "incident": {"type": "burglary", "description": "Break-in at a corner shop",
                     "point": point.to_json(), "radius_m": radius_m},
        "window": {"start": format_time(now - timedelta(hours=3)),
                   "end": format_time(now - timedelta(hours=2))},
        "respond_by": format_time(now + timedelta(days=3)),
        "legal_basis": "voluntary",
        "disclosures": {"retention_days": 90, "may_become_public_record": True,
                        "may_be_asked_to_testify": False,
                        "name_may_appear_in_court_documents": False, "notes": ""},
    }  # fmt: skip
    body.update(overrides)
    return body
