"""Signed HTTP requests from a gateway to the city (the gateway's device key authenticates it)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import MalformedMessageError, SignatureError
from .signing import Domain, SignedEnvelope, key_id, sign, verify
from .timeutil import format_time, parse_time, utcnow

HEADER_GATEWAY = "X-SafeSmart-Gateway"
HEADER_TIMESTAMP = "X-SafeSmart-Timestamp"
HEADER_SIGNATURE = "X-SafeSmart-Signature"

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def _request_body(
    gateway_id: str, method: str, path_qs: str, body_sha256: str, timestamp: str
) -> dict[str, str]:
    return {
        "gateway_id": gateway_id,
        "method": method.upper(),
        "path": path_qs,
        "body_sha256": body_sha256,
        "timestamp": timestamp,
    }


def sign_http_request(
    private_key: Ed25519PrivateKey,
    gateway_id: str,
    method: str,
    path_qs: str,
    body_sha256: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The three headers that authenticate one request (method, path with query, body hash)."""
    timestamp = format_time((now or utcnow()).replace(microsecond=0))
    envelope = sign(
        private_key,
        Domain.HTTP_REQUEST,
        _request_body(gateway_id, method, path_qs, body_sha256, timestamp),
    )
    return {
        HEADER_GATEWAY: gateway_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: envelope.signature,
    }


def verify_http_request(
    headers: Mapping[str, str],
    method: str,
    path_qs: str,
    body_sha256: str,
    lookup_key: Callable[[str], Ed25519PublicKey | None],
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=5),
) -> str:
    """Return the authenticated gateway id, or raise SignatureError saying why not."""
    gateway_id = headers.get(HEADER_GATEWAY)
    timestamp = headers.get(HEADER_TIMESTAMP)
    signature = headers.get(HEADER_SIGNATURE)
    if not gateway_id or not timestamp or not signature:
        raise SignatureError("the request is not signed by a gateway")
    try:
        signed_at = parse_time(timestamp, HEADER_TIMESTAMP)
    except MalformedMessageError as err:
        raise SignatureError(str(err)) from err
    if abs((now or utcnow()) - signed_at) > max_skew:
        raise SignatureError("the request's timestamp is too far from the city's clock")
    public_key = lookup_key(gateway_id)
    if public_key is None:
        raise SignatureError("unknown gateway")
    envelope = SignedEnvelope(
        Domain.HTTP_REQUEST,
        _request_body(gateway_id, method, path_qs, body_sha256, timestamp),
        key_id(public_key),
        signature,
    )
    verify(envelope, public_key, Domain.HTTP_REQUEST)
    return gateway_id
