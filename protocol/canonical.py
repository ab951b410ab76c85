"""Canonical JSON (RFC 8785) and the base64url encoding used on the wire."""

from __future__ import annotations

import base64
import binascii
import re

import rfc8785

from .errors import MalformedMessageError

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def canonical_json(value: object) -> bytes:
    """Serialise `value` as RFC 8785 canonical JSON (the bytes every signature covers)."""
    try:
        return bytes(rfc8785.dumps(value))  # type: ignore[arg-type]  # checked by rfc8785 itself
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as err:
        raise MalformedMessageError(f"value cannot be canonicalised: {err}") from err


def b64encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: object, field: str = "value") -> bytes:
    """Strictly decode base64url without padding; anything else is malformed."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise MalformedMessageError(f"{field}: expected base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise MalformedMessageError(f"{field}: invalid base64url") from err
    if b64encode(data) != text:
        raise MalformedMessageError(f"{field}: non-canonical base64url")
    return data
