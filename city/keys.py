"""The city's long-lived keys: Ed25519 for signing, X25519 for receiving sealed uploads."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.registration import CityIdentity
from protocol.signing import display_fingerprint, encode_public_key, key_id

from .errors import CityKeyError

SIGNING_KEY_FILE = "signing-key.pem"
ENCRYPTION_KEY_FILE = "encryption-key.pem"
IDENTITY_FILE = "city.json"


@dataclass(frozen=True)
class CityKeys:
    """The city's identity: a stable id, a display name and its two private keys."""

    city_id: str
    name: str
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    def identity(self) -> CityIdentity:
        """The public half that gateways pin at enrollment."""
        return CityIdentity(
            city_id=self.city_id,
            name=self.name,
            signing_key=encode_public_key(self.signing.public_key()),
            encryption_key=encode_public_key(self.encryption.public_key()),
        )

    def fingerprint(self) -> str:
        """The signing key's fingerprint as people compare it ("ab12 cd34 ...")."""
        return display_fingerprint(key_id(self.signing.public_key()))

    @classmethod
    def load_or_create(cls, folder: Path, name: str) -> CityKeys:
        """Load the keys from `folder`, creating them (files 0600, folder 0700) on first use.

        Once created, the stored name wins over `name`: gateways have pinned it.
        """
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        identity_path = folder / IDENTITY_FILE
        if not identity_path.exists():
            write_secret_file(
                folder / SIGNING_KEY_FILE, _pem(Ed25519PrivateKey.generate()), exclusive=True
            )
            write_secret_file(
                folder / ENCRYPTION_KEY_FILE, _pem(X25519PrivateKey.generate()), exclusive=True
            )
            identity = {"city_id": str(uuid.uuid4()), "name": name}
            # Written last: its presence means the key files are complete.
            write_secret_file(identity_path, json.dumps(identity).encode(), exclusive=True)
        return cls.load(folder)

    @classmethod
    def load(cls, folder: Path) -> CityKeys:
        """Load existing keys; CityKeyError if they are missing or damaged."""
        try:
            identity = json.loads((folder / IDENTITY_FILE).read_text(encoding="utf-8"))
            signing = serialization.load_pem_private_key(
                (folder / SIGNING_KEY_FILE).read_bytes(), password=None
            )
            encryption = serialization.load_pem_private_key(
                (folder / ENCRYPTION_KEY_FILE).read_bytes(), password=None
            )
        except (OSError, ValueError) as err:
            raise CityKeyError(
                f"the city keys in {folder} cannot be read ({err}); restore them from backup"
            ) from err
        if not isinstance(signing, Ed25519PrivateKey) or not isinstance(
            encryption, X25519PrivateKey
        ):
            raise CityKeyError(f"the city keys in {folder} are of the wrong type")
        city_id, name = identity.get("city_id"), identity.get("name")
        if not isinstance(city_id, str) or not isinstance(name, str):
            raise CityKeyError(f"{folder / IDENTITY_FILE} is damaged; restore it from backup")
        return cls(city_id=city_id, name=name, signing=signing, encryption=encryption)


def _pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_secret_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write a secret file readable only by its owner (created 0600, never widened)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        # A half-finished earlier run: replace its leftovers rather than mix key pairs.
        path.unlink()
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)
