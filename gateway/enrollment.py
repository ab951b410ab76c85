"""Enrolling with a city: verify its grant, compare its fingerprint, pin its keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.errors import ProtocolError
from protocol.registration import EnrollmentGrant, EnrollmentRequest
from protocol.signing import (
    Domain,
    SignedEnvelope,
    decode_ed25519_public_key,
    decode_x25519_public_key,
    display_fingerprint,
    encode_public_key,
    key_id,
    verify,
)
from protocol.timeutil import utcnow

from .cityclient import CityClient
from .config import GatewayError
from .store import GatewayStore, PinnedCity


class EnrollmentError(GatewayError):
    """Enrollment failed or was refused; nothing was stored."""


@dataclass(frozen=True)
class EnrollmentResult:
    city: PinnedCity
    replaced: PinnedCity | None


def normalise_fingerprint(text: str) -> str:
    """Lower-case hex without spaces or colons, so people may type it either way."""
    return "".join(ch for ch in text.lower() if ch in "0123456789abcdef")


def verify_grant(
    envelope_json: object, *, expect_fingerprint: str | None
) -> tuple[EnrollmentGrant, str]:
    """Check the grant is signed by the key it carries (and that key is the expected one)."""
    try:
        envelope = SignedEnvelope.from_json(envelope_json)
        if envelope.domain is not Domain.ENROLLMENT:
            raise EnrollmentError("the city's answer is not an enrollment grant")
        unverified = EnrollmentGrant.from_json(envelope.body)
        signing_key = decode_ed25519_public_key(unverified.city.signing_key, "city.signing_key")
        decode_x25519_public_key(unverified.city.encryption_key, "city.encryption_key")
        grant = EnrollmentGrant.from_json(verify(envelope, signing_key, Domain.ENROLLMENT))
    except ProtocolError as err:
        raise EnrollmentError(f"the city's enrollment grant is not valid: {err}") from err
    kid = key_id(signing_key)
    if expect_fingerprint is not None:
        wanted = normalise_fingerprint(expect_fingerprint)
        if len(wanted) < 16 or not kid.startswith(wanted):
            raise EnrollmentError(
                f"the city's key fingerprint is {display_fingerprint(kid)}, not the one you "
                "expected; do not enroll, and check the address with your city"
            )
    return grant, kid


async def enroll(
    store: GatewayStore,
    device_key: Ed25519PrivateKey,
    client: CityClient,
    *,
    code: str,
    label: str,
    expect_fingerprint: str | None = None,
    replace: bool = False,
    now: datetime | None = None,
) -> EnrollmentResult:
    """POST /v1/enroll, verify the grant, pin the city; a different key needs `replace`."""
    previous = store.pinned_city()
    request = EnrollmentRequest(code=code.strip(), device_key=encode_public_key(
        device_key.public_key()), label=label)
    answer = await client.enroll(request.to_json())
    grant, kid = verify_grant(answer, expect_fingerprint=expect_fingerprint)
    if previous is not None and previous.signing_key != grant.city.signing_key and not replace:
        raise EnrollmentError(
            f"this gateway is already enrolled with {previous.name} (key "
            f"{previous.fingerprint}); pass --replace to switch to a different city key"
        )
    city = PinnedCity(
        gateway_id=grant.gateway_id,
        city_id=grant.city.city_id,
        name=grant.city.name,
        url=client.base_url,
        signing_key=grant.city.signing_key,
        encryption_key=grant.city.encryption_key,
        fingerprint=display_fingerprint(kid),
        enrolled_at=now or utcnow(),
    )
    store.pin_city(city)
    return EnrollmentResult(city, previous)
