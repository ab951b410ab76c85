"""Builders shared by the trust-core tests: a throwaway city key and signed footage requests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.canonical import b64encode
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
from protocol.signing import Domain, SignedEnvelope, sign
from protocol.timeutil import TimeWindow

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
CITY_ID = "cle"
OUR_CAMERAS = ("reg-front", "reg-drive", "reg-back")


def make_request(**changes: Any) -> FootageRequest:
    """A valid request issued at NOW for two of our cameras; `changes` replace fields."""
    request = FootageRequest(
        request_id=str(uuid.uuid4()),
        nonce=b64encode(uuid.uuid4().bytes),
        city_id=CITY_ID,
        issued_at=NOW - timedelta(minutes=1),
        agency=Agency("Cleveland Division of Police", "cle-pd"),
        officer=Officer("Det. A. Example", "4411", "a.example@city.example", "+1 216 555 0100"),
        case_number="2026-118822",
        incident=Incident(
            IncidentType.BURGLARY, "Rear door forced", GeoPoint(41.4993, -81.6944), 300.0
        ),
        window=TimeWindow(NOW - timedelta(hours=3), NOW - timedelta(hours=2, minutes=30)),
        registration_ids=OUR_CAMERAS[:2],
        respond_by=NOW + timedelta(days=2),
        legal_basis=LegalBasis.VOLUNTARY,
        disclosures=Disclosures(90, True, False, False, "Kept 90 days unless evidence."),
    )
    return replace(request, **changes)


def signed(
    key: Ed25519PrivateKey, request: FootageRequest
) -> tuple[FootageRequest, SignedEnvelope]:
    """The request and its envelope signed by `key` for the footage-request domain."""
    return request, sign(key, Domain.FOOTAGE_REQUEST, request.to_json())
