"""The sealed-upload format: round trips, truncation, tampering, wrong key or context."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.errors import SealedPackageError
from protocol.sealing import CHUNK_SIZE, MAGIC, open_file, open_stream, seal_file, seal_stream

CONTEXT = b'{"registration_id":"reg-1","request_id":"r-1"}'


@pytest.fixture
def recipient() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def seal_bytes(data: bytes, recipient: X25519PrivateKey, chunk_size: int = 1024) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, recipient.public_key(), CONTEXT, chunk_size)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 5000])
def test_round_trip(recipient: X25519PrivateKey, size: int) -> None:
    data = os.urandom(size)
    package = seal_bytes(data, recipient)
    out = io.BytesIO()
    result = open_stream(io.BytesIO(package), out, recipient, CONTEXT)
    assert out.getvalue() == data
    assert result.plaintext_size == size and result.ciphertext_size == len(package)


def test_same_plaintext_never_seals_the_same(recipient: X25519PrivateKey) -> None:
    assert seal_bytes(b"x" * 100, recipient) != seal_bytes(b"x" * 100, recipient)


@pytest.mark.parametrize("cut", [1, 16, 1040, 1041])
def test_truncation_fails(recipient: X25519PrivateKey, cut: int) -> None:
    package = seal_bytes(os.urandom(3000), recipient)
    with pytest.raises(SealedPackageError):
        open_stream(io.BytesIO(package[:-cut]), None, recipient, CONTEXT)


def test_truncation_at_a_chunk_boundary_fails(recipient: X25519PrivateKey) -> None:
    package = seal_bytes(os.urandom(3000), recipient)
    # Drop the last chunk whole (3000 = 1024 + 1024 + 952): the new last chunk lacks the flag.
    with pytest.raises(SealedPackageError, match="truncated"):
        open_stream(io.BytesIO(package[: -(952 + 16)]), None, recipient, CONTEXT)


def test_appended_or_reordered_chunks_fail(recipient: X25519PrivateKey) -> None:
    package = seal_bytes(os.urandom(3000), recipient)
    with pytest.raises(SealedPackageError):
        open_stream(io.BytesIO(package + b"\x00" * 16), None, recipient, CONTEXT)
    header_end = len(package) - (1040 + 1040 + 968)
    body = package[header_end:]
    swapped = package[:header_end] + body[1040:2080] + body[:1040] + body[2080:]
    with pytest.raises(SealedPackageError, match="tampered"):
        open_stream(io.BytesIO(swapped), None, recipient, CONTEXT)


def test_any_flipped_byte_fails(recipient: X25519PrivateKey) -> None:
    package = seal_bytes(os.urandom(2000), recipient)
    for position in range(0, len(package), 97):
        flipped = bytearray(package)
        flipped[position] ^= 0x01
        with pytest.raises(SealedPackageError):
            open_stream(io.BytesIO(bytes(flipped)), None, recipient, CONTEXT)


def test_wrong_key_or_context_fails(recipient: X25519PrivateKey) -> None:
    package = seal_bytes(b"footage", recipient)
    with pytest.raises(SealedPackageError, match="not for this key"):
        open_stream(io.BytesIO(package), None, X25519PrivateKey.generate(), CONTEXT)
    with pytest.raises(SealedPackageError, match="not for this key"):
        open_stream(io.BytesIO(package), None, recipient, b"another request")


@pytest.mark.parametrize("package", [b"", b"NOT-A-PACKAGE", MAGIC, MAGIC + b"\x00\x00\x10\x00"])
def test_garbage_is_refused(recipient: X25519PrivateKey, package: bytes) -> None:
    with pytest.raises(SealedPackageError):
        open_stream(io.BytesIO(package), None, recipient, CONTEXT)


def test_files_are_atomic(recipient: X25519PrivateKey, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(CHUNK_SIZE * 2 + 5))
    sealed, opened = tmp_path / "clip.sealed", tmp_path / "opened.mp4"
    sealed_result = seal_file(clip, sealed, recipient.public_key(), CONTEXT)
    opened_result = open_file(sealed, opened, recipient, CONTEXT)
    assert opened.read_bytes() == clip.read_bytes()
    assert sealed_result == opened_result
    truncated = tmp_path / "truncated.sealed"
    truncated.write_bytes(sealed.read_bytes()[:-100])
    with pytest.raises(SealedPackageError):
        open_file(truncated, tmp_path / "never.mp4", recipient, CONTEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip.mp4",
        "clip.sealed",
        "opened.mp4",
        "truncated.sealed",
    ]
