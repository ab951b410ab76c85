"""The device key (Ed25519) and the local API token, both in files only the owner can read."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .config import GatewayError


class KeyFileError(GatewayError):
    """A key or token file is missing, unreadable or too widely readable."""


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_private(path: Path, what: str) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise KeyFileError(f"the {what} is missing; run `safesmart-gateway init`") from err
    except OSError as err:
        raise KeyFileError(f"the {what} cannot be read: {err.strerror}") from err
    if mode & 0o077:
        raise KeyFileError(
            f"the {what} is readable by other users (mode {mode:o}); run `chmod 600` on it"
        )
    return data


def load_or_create_device_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The device key at `path`, created on first use; returns (key, created)."""
    if path.exists():
        return load_device_key(path), False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    return key, True


def load_device_key(path: Path) -> Ed25519PrivateKey:
    """Load the device key, refusing a file other users can read."""
    data = _read_private(path, "device key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as err:
        raise KeyFileError("the device key file is damaged; restore it from a backup") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError("the device key file does not hold an Ed25519 key")
    return key


def create_api_token(path: Path, *, rotate: bool = False) -> tuple[str, bool]:
    """The API token (32 random bytes, url-safe), created if absent or when rotating."""
    if path.exists() and not rotate:
        return read_api_token(path), False
    token = secrets.token_urlsafe(32)
    _write_private(path, token.encode("ascii"))
    return token, True


def read_api_token(path: Path) -> str:
    """Read the API token, refusing a file other users can read."""
    token = _read_private(path, "API token file").decode("ascii", errors="replace").strip()
    if len(token) < 32:
        raise KeyFileError("the API token file is damaged; run `safesmart-gateway token --rotate`")
    return token


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison, so response timing reveals nothing about the token."""
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))
