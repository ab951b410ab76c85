"""Fixtures for the protocol tests: fixed keys and a complete footage request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.geo import GeoPoint
from protocol.messages import (
    Agency,
    Disclosures,
    FootageRequest,
    Incident,
    IncidentType,
    LegalBasis,
    Officer,
)
from protocol.timeutil import TimeWindow

ISSUED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def city_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def footage_request() -> FootageRequest:
    return FootageRequest(
        request_id="5f0c1d7e-1b8a-4c43-9d0e-8f1f2a3b4c5d",
        nonce="q83vEjRWeJq83vEjRWeJqw",
        city_id="cle",
        issued_at=ISSUED,
        agency=Agency("Cleveland Division of Police", "cle-pd"),
        officer=Officer("Det. A. Example", "4411", "a.example@city.example", "+1 216 555 0100"),
        case_number="2026-118822",
        incident=Incident(
            IncidentType.BURGLARY, "Rear door forced", GeoPoint(41.4993, -81.6944), 300.0
        ),
        window=TimeWindow(ISSUED - timedelta(hours=2), ISSUED - timedelta(hours=1)),
        registration_ids=("reg-1", "reg-2"),
        respond_by=ISSUED + timedelta(days=2),
        legal_basis=LegalBasis.VOLUNTARY,
        disclosures=Disclosures(90, True, False, False, "Kept 90 days unless evidence."),
    )
