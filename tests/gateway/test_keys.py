"""Device key and API token files: created 0600, refused when others can read them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import DataLayout
from gateway.keys import (
    KeyFileError,
    create_api_token,
    load_device_key,
    load_or_create_device_key,
    read_api_token,
    token_matches,
)


def test_files_are_private(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path / "data")
    layout.create()
    key, created = load_or_create_device_key(layout.device_key)
    token, _ = create_api_token(layout.api_token)
    assert created
    assert layout.device_key.stat().st_mode & 0o777 == 0o600
    assert layout.api_token.stat().st_mode & 0o777 == 0o600
    assert layout.root.stat().st_mode & 0o777 == 0o700
    assert layout.keys_dir.stat().st_mode & 0o777 == 0o700
    again, created_again = load_or_create_device_key(layout.device_key)
    assert not created_again
    assert again.private_bytes_raw() == key.private_bytes_raw()
    assert len(token) >= 43 and read_api_token(layout.api_token) == token


def test_rotation_replaces_the_token(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    first, _ = create_api_token(path)
    same, created = create_api_token(path)
    rotated, rotated_created = create_api_token(path, rotate=True)
    assert same == first and not created
    assert rotated != first and rotated_created
    assert path.stat().st_mode & 0o777 == 0o600


def test_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "device.key"
    load_or_create_device_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by other users"):
        load_device_key(path)


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    key_path, token_path = tmp_path / "device.key", tmp_path / "api-token"
    key_path.write_bytes(b"not a key")
    token_path.write_bytes(b"short")
    os.chmod(key_path, 0o600)
    os.chmod(token_path, 0o600)
    with pytest.raises(KeyFileError, match="damaged"):
        load_device_key(key_path)
    with pytest.raises(KeyFileError, match="damaged"):
        read_api_token(token_path)
    with pytest.raises(KeyFileError, match="missing"):
        load_device_key(tmp_path / "absent.key")


def test_token_comparison() -> None:
    assert token_matches("a" * 43, "a" * 43)
    assert not token_matches("a" * 43, "a" * 42 + "b")
    assert not token_matches("a" * 43, "")
