"""docs/protocol-vectors.json stays true to the code (and so to the documented format)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.canonical import canonical_json
from protocol.errors import SealedPackageError
from protocol.geo import GeoPoint, coarsen
from protocol.httpauth import sign_http_request
from protocol.sealing import open_stream
from protocol.signing import Domain, SignedEnvelope, sign, signing_input, verify

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "docs" / "protocol-vectors.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["canonical_json"])
def test_canonical_json(case: dict[str, Any]) -> None:
    assert canonical_json(case["input"]).decode() == case["canonical"]


def test_signature() -> None:
    case = VECTORS["signature"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(case["private_seed_hex"]))
    domain = Domain(case["domain"])
    assert signing_input(domain, case["body"]).hex() == case["signing_input_hex"]
    assert sign(key, domain, case["body"]).to_json() == case["envelope"]
    envelope = SignedEnvelope.from_json(case["envelope"])
    assert verify(envelope, key.public_key(), domain) == case["body"]


def test_http_request() -> None:
    case = VECTORS["http_request"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(case["private_seed_hex"]))
    now = datetime.fromisoformat(case["now"])
    headers = sign_http_request(
        key, case["gateway_id"], case["method"], case["path"], case["body_sha256"], now
    )
    assert headers == case["headers"]


def test_sealed_package() -> None:
    case = VECTORS["sealed_package"]
    key = X25519PrivateKey.from_private_bytes(bytes.fromhex(case["recipient_private_hex"]))
    package = bytes.fromhex(case["package_hex"])
    out = io.BytesIO()
    open_stream(io.BytesIO(package), out, key, case["context"].encode())
    assert out.getvalue().hex() == case["plaintext_hex"]
    with pytest.raises(SealedPackageError):
        open_stream(io.BytesIO(package[:-1]), None, key, case["context"].encode())


@pytest.mark.parametrize("case", VECTORS["coarse_location"])
def test_coarse_location(case: dict[str, Any]) -> None:
    coarse = coarsen(GeoPoint(*case["input"]))
    assert [coarse.lat, coarse.lon] == case["coarse"]
