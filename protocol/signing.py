"""Domain-separated Ed25519 signatures over canonical JSON, keys and fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import b64decode, b64encode, canonical_json
from .errors import MalformedMessageError, SignatureError

SIGNATURE_CONTEXT = b"SafeSmart/v1\x00"


class Domain(StrEnum):
    """What a signature is for; a signature made for one domain never verifies in another."""

    FOOTAGE_REQUEST = "footage-request"
    ENROLLMENT = "enrollment"
    CAMERA_REGISTRATION = "camera-registration"
    UPLOAD_MANIFEST = "upload-manifest"
    UPLOAD_ACKNOWLEDGEMENT = "upload-acknowledgement"
    AUDIT_CHECKPOINT = "audit-checkpoint"
    HTTP_REQUEST = "http-request"
    DECLINE_REPLY = "decline-reply"


def raw_public_key(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey | X25519PublicKey) -> str:
    """The key's identifier: hex SHA-256 of its raw 32 bytes."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def display_fingerprint(key_id_hex: str) -> str:
    """The first 16 bytes of a key id in groups of four, for people to compare."""
    head = key_id_hex[:32]
    return " ".join(head[i : i + 4] for i in range(0, len(head), 4))


def encode_public_key(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return b64encode(raw_public_key(key))


def decode_ed25519_public_key(text: object, field: str = "key") -> Ed25519PublicKey:
    raw = b64decode(text, field)
    if len(raw) != 32:
        raise MalformedMessageError(f"{field}: an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def decode_x25519_public_key(text: object, field: str = "key") -> X25519PublicKey:
    raw = b64decode(text, field)
    if len(raw) != 32:
        raise MalformedMessageError(f"{field}: an X25519 public key has 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def signing_input(domain: Domain, body: Mapping[str, Any]) -> bytes:
    """The exact bytes an envelope's signature covers."""
    return SIGNATURE_CONTEXT + domain.value.encode("ascii") + b"\x00" + canonical_json(body)


@dataclass(frozen=True)
class SignedEnvelope:
    """A message body with the signature of one key, for one domain."""

    domain: Domain
    body: dict[str, Any]
    key_id: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain.value,
            "body": self.body,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    def digest(self) -> str:
        """Hex SHA-256 of the envelope's canonical JSON (names a manifest, an upload, ...)."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    @classmethod
    def from_json(cls, data: object) -> SignedEnvelope:
        if not isinstance(data, dict):
            raise MalformedMessageError("envelope: expected a JSON object")
        expected = {"domain", "body", "key_id", "signature"}
        if set(data) != expected:
            extra, missing = set(data) - expected, expected - set(data)
            raise MalformedMessageError(
                f"envelope: unexpected fields {sorted(extra)}, missing {sorted(missing)}"
            )
        try:
            domain = Domain(data["domain"])
        except ValueError as err:
            raise MalformedMessageError(f"envelope: unknown domain {data['domain']!r}") from err
        body, kid, signature = data["body"], data["key_id"], data["signature"]
        if not isinstance(body, dict):
            raise MalformedMessageError("envelope.body: expected a JSON object")
        if not isinstance(kid, str) or len(kid) != 64 or kid.strip("0123456789abcdef"):
            raise MalformedMessageError("envelope.key_id: expected 64 lower-case hex characters")
        if len(b64decode(signature, "envelope.signature")) != 64:
            raise MalformedMessageError("envelope.signature: an Ed25519 signature has 64 bytes")
        return cls(domain, body, kid, signature)


def sign(private_key: Ed25519PrivateKey, domain: Domain, body: Mapping[str, Any]) -> SignedEnvelope:
    """Sign `body` for `domain` with `private_key`."""
    signature = private_key.sign(signing_input(domain, body))
    return SignedEnvelope(
        domain, dict(body), key_id(private_key.public_key()), b64encode(signature)
    )


def verify(
    envelope: SignedEnvelope, public_key: Ed25519PublicKey, domain: Domain
) -> dict[str, Any]:
    """Return the body if `envelope` is a valid signature by `public_key` for `domain`."""
    if envelope.domain is not domain:
        raise SignatureError(f"signed for {envelope.domain.value!r}, expected {domain.value!r}")
    if envelope.key_id != key_id(public_key):
        raise SignatureError("signed by an unknown key")
    try:
        public_key.verify(
            b64decode(envelope.signature, "signature"), signing_input(domain, envelope.body)
        )
    except (InvalidSignature, MalformedMessageError) as err:
        raise SignatureError("the signature does not verify") from err
    return envelope.body
