"""Writes docs/protocol-vectors.json: test vectors for other implementations of the protocol.

Run: .venv/bin/python scripts/protocol_vectors.py. Signatures are deterministic (Ed25519);
the sealed package is not (HPKE and the file key are random), so its vector is a package
that must open to the given plaintext. tests/protocol/test_vectors.py checks the file.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.canonical import canonical_json
from protocol.geo import GeoPoint, coarsen
from protocol.httpauth import sign_http_request
from protocol.sealing import seal_stream
from protocol.signing import Domain, encode_public_key, sign, signing_input

OUT = Path(__file__).resolve().parent.parent / "docs" / "protocol-vectors.json"
SIGNING_SEED = bytes(range(32))
RECIPIENT_SEED = bytes(range(32, 64))
CANONICAL_INPUTS: list[Any] = [
    {"b": 2, "a": 1, "c": {"z": [3, 2, 1], "y": None}},
    {"numbers": [1.0, 0.5, 1e21, 1e-7, -0.0, 1.2345678901234568e20, 9007199254740991]},
    {"text": 'é\u2028\u0007"\\', "emoji": "\U0001f600"},
]


def build() -> dict[str, Any]:
    city = Ed25519PrivateKey.from_private_bytes(SIGNING_SEED)
    body = {"version": 1, "request_id": "00000000-0000-4000-8000-000000000000", "case": "V-1"}
    envelope = sign(city, Domain.FOOTAGE_REQUEST, body)
    recipient = X25519PrivateKey.from_private_bytes(RECIPIENT_SEED)
    plaintext = bytes(i % 251 for i in range(600))
    context = canonical_json({"registration_id": "reg-1", "request_id": body["request_id"]})
    package = io.BytesIO()
    seal_stream(io.BytesIO(plaintext), package, recipient.public_key(), context, chunk_size=256)
    moment = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    body_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    return {
        "canonical_json": [
            {"input": value, "canonical": canonical_json(value).decode()}
            for value in CANONICAL_INPUTS
        ],
        "signature": {
            "private_seed_hex": SIGNING_SEED.hex(),
            "public_key": encode_public_key(city.public_key()),
            "domain": Domain.FOOTAGE_REQUEST.value,
            "body": body,
            "signing_input_hex": signing_input(Domain.FOOTAGE_REQUEST, body).hex(),
            "envelope": envelope.to_json(),
        },
        "http_request": {
            "private_seed_hex": SIGNING_SEED.hex(),
            "gateway_id": "gw-1",
            "method": "GET",
            "path": "/v1/feed?cursor=0&wait=25",
            "body_sha256": body_sha256,
            "now": "2026-11-21T10:00:00Z",
            "headers": sign_http_request(
                city, "gw-1", "GET", "/v1/feed?cursor=0&wait=25", body_sha256, moment
            ),
        },
        "sealed_package": {
            "recipient_private_hex": RECIPIENT_SEED.hex(),
            "context": context.decode(),
            "chunk_size": 256,
            "plaintext_hex": plaintext.hex(),
            "package_hex": package.getvalue().hex(),
        },
        "coarse_location": [
            {"input": [lat, lon], "coarse": list(vars(coarsen(GeoPoint(lat, lon))).values())}
            for lat, lon in [(41.499321, -81.694359), (-33.868820, 151.209290), (0.0, 0.0)]
        ],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")
