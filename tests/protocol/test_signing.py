"""Domain-separated signatures, envelopes and signed HTTP requests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.canonical import b64decode, b64encode, canonical_json
from protocol.errors import MalformedMessageError, SignatureError
from protocol.httpauth import HEADER_SIGNATURE, sign_http_request, verify_http_request
from protocol.messages import FootageRequest
from protocol.signing import (
    Domain,
    SignedEnvelope,
    display_fingerprint,
    key_id,
    sign,
    verify,
)


def test_canonical_json_orders_keys_and_numbers() -> None:
    assert canonical_json({"b": 1, "a": [1.0, 1e21, "é"]}) == b'{"a":[1,1e+21,"\xc3\xa9"],"b":1}'


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(MalformedMessageError):
        canonical_json({"x": float("nan")})


@pytest.mark.parametrize("text", ["YQ==", "Y+E", "a", 5, "YR"])
def test_b64decode_is_strict(text: object) -> None:
    with pytest.raises(MalformedMessageError):
        b64decode(text)


def test_b64_round_trip() -> None:
    assert b64decode(b64encode(b"\xff\x00abc")) == b"\xff\x00abc"


def test_sign_and_verify(city_key: Ed25519PrivateKey, footage_request: FootageRequest) -> None:
    envelope = sign(city_key, Domain.FOOTAGE_REQUEST, footage_request.to_json())
    parsed = SignedEnvelope.from_json(envelope.to_json())
    body = verify(parsed, city_key.public_key(), Domain.FOOTAGE_REQUEST)
    assert FootageRequest.from_json(body) == footage_request
    assert len(envelope.digest()) == 64


def test_signature_is_bound_to_its_domain(city_key: Ed25519PrivateKey) -> None:
    envelope = sign(city_key, Domain.UPLOAD_ACKNOWLEDGEMENT, {"x": 1})
    relabelled = SignedEnvelope(
        Domain.FOOTAGE_REQUEST, envelope.body, envelope.key_id, envelope.signature
    )
    with pytest.raises(SignatureError):
        verify(relabelled, city_key.public_key(), Domain.FOOTAGE_REQUEST)
    with pytest.raises(SignatureError, match="expected 'footage-request'"):
        verify(envelope, city_key.public_key(), Domain.FOOTAGE_REQUEST)


def test_tampered_body_and_unknown_key_fail(city_key: Ed25519PrivateKey) -> None:
    envelope = sign(city_key, Domain.FOOTAGE_REQUEST, {"case": "1"})
    tampered = SignedEnvelope(envelope.domain, {"case": "2"}, envelope.key_id, envelope.signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(tampered, city_key.public_key(), Domain.FOOTAGE_REQUEST)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="unknown key"):
        verify(envelope, other, Domain.FOOTAGE_REQUEST)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"domain": "footage-request", "body": {}, "key_id": "0" * 64},
        {"domain": "nope", "body": {}, "key_id": "0" * 64, "signature": "A" * 86},
        {"domain": "footage-request", "body": [], "key_id": "0" * 64, "signature": "A" * 86},
        {"domain": "footage-request", "body": {}, "key_id": "Z" * 64, "signature": "A" * 86},
        {"domain": "footage-request", "body": {}, "key_id": "0" * 64, "signature": "AAAA"},
        {
            "domain": "footage-request",
            "body": {},
            "key_id": "0" * 64,
            "signature": "A" * 86,
            "x": 1,
        },
    ],
)
def test_malformed_envelopes(data: object) -> None:
    with pytest.raises(MalformedMessageError):
        SignedEnvelope.from_json(data)


def test_fingerprint_display(city_key: Ed25519PrivateKey) -> None:
    kid = key_id(city_key.public_key())
    shown = display_fingerprint(kid)
    assert shown.replace(" ", "") == kid[:32] and len(shown.split()) == 8


NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
BODY_HASH = hashlib.sha256(b'{"a":1}').hexdigest()


def test_http_request_signature(city_key: Ed25519PrivateKey) -> None:
    headers = sign_http_request(city_key, "gw-1", "post", "/v1/cameras?x=1", BODY_HASH, NOW)
    keys = {"gw-1": city_key.public_key()}
    assert (
        verify_http_request(headers, "POST", "/v1/cameras?x=1", BODY_HASH, keys.get, NOW) == "gw-1"
    )
    with pytest.raises(SignatureError):
        verify_http_request(headers, "POST", "/v1/cameras?x=2", BODY_HASH, keys.get, NOW)
    with pytest.raises(SignatureError):
        verify_http_request(headers, "POST", "/v1/cameras?x=1", "0" * 64, keys.get, NOW)
    with pytest.raises(SignatureError, match="clock"):
        verify_http_request(
            headers, "POST", "/v1/cameras?x=1", BODY_HASH, keys.get, NOW + timedelta(minutes=6)
        )
    with pytest.raises(SignatureError, match="unknown gateway"):
        unknown: dict[str, Ed25519PublicKey] = {}
        verify_http_request(headers, "POST", "/v1/cameras?x=1", BODY_HASH, unknown.get, NOW)
    with pytest.raises(SignatureError, match="not signed"):
        verify_http_request({}, "POST", "/v1/cameras?x=1", BODY_HASH, keys.get, NOW)
    forged = dict(headers, **{HEADER_SIGNATURE: b64encode(bytes(64))})
    with pytest.raises(SignatureError):
        verify_http_request(forged, "POST", "/v1/cameras?x=1", BODY_HASH, keys.get, NOW)
