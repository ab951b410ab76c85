"""The city's keys and data folder: created once, owner-only, reloaded unchanged."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from city.config import CityConfig, initialise
from city.errors import CityKeyError
from city.keys import SIGNING_KEY_FILE, CityKeys
from protocol.signing import decode_ed25519_public_key, decode_x25519_public_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_created_owner_only_and_reloaded(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    keys = CityKeys.load_or_create(folder, "Testville")
    assert _mode(folder) == 0o700
    assert all(_mode(path) == 0o600 for path in folder.iterdir())
    again = CityKeys.load_or_create(folder, "Another name")
    assert again.identity() == keys.identity()  # the pinned name and keys never change
    identity = keys.identity()
    assert identity.name == "Testville"
    assert decode_ed25519_public_key(identity.signing_key) == keys.signing.public_key()
    assert decode_x25519_public_key(identity.encryption_key) == keys.encryption.public_key()
    assert len(keys.fingerprint().split()) == 8


def test_damaged_or_missing_keys_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    with pytest.raises(CityKeyError):
        CityKeys.load(folder)
    CityKeys.load_or_create(folder, "Testville")
    (folder / SIGNING_KEY_FILE).write_text("not a key")
    with pytest.raises(CityKeyError, match="restore them from backup"):
        CityKeys.load(folder)


def test_initialise_keeps_the_admin_token(tmp_path: Path) -> None:
    first, _ = initialise(tmp_path / "data", "Testville")
    second, _ = initialise(tmp_path / "data", "Testville")
    assert first.admin_token == second.admin_token and len(first.admin_token) >= 40
    assert _mode(tmp_path / "data" / "admin-token") == 0o600
    assert CityConfig.load(tmp_path / "data").name == "Testville"
    with pytest.raises(CityKeyError, match="safesmart-city init"):
        CityConfig.load(tmp_path / "elsewhere")
