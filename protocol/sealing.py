"""The sealed-upload format: a per-clip file key wrapped to the city with HPKE, and the
payload encrypted with STREAM (AES-256-GCM chunks, counter nonces, last-chunk flag).

    package = MAGIC || u32be(len(header)) || header || chunk_0 || ... || chunk_n
    header  = canonical JSON {"chunk_size", "suite", "wrapped_key"}
    chunk_i = AES-256-GCM(payload_key, nonce = u88be(i) || last_flag, plaintext_i,
                          aad = SHA-256(MAGIC || u32be(len(header)) || header))

Every chunk but the last carries exactly `chunk_size` plaintext bytes; the last may be shorter
and is empty only when the whole payload is. Dropping, reordering or truncating chunks, or
changing one byte of the header, makes opening fail. See docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .canonical import b64decode, b64encode, canonical_json
from .errors import MalformedMessageError, SealedPackageError
from .schema import ObjectReader

MAGIC = b"SAFESMART-SEALED/1\n"
SUITE_NAME = "HPKE(DHKEM-X25519-HKDF-SHA256,HKDF-SHA256,AES-256-GCM)+STREAM(AES-256-GCM)"
CHUNK_SIZE = 256 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_HEADER = 4096
TAG_SIZE = 16
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HPKE_INFO = b"SafeSmart/v1 file-key\x00"
_PAYLOAD_INFO = b"SafeSmart/v1 payload-key"


@dataclass(frozen=True)
class SealResult:
    """Sizes and SHA-256 digests of the plaintext and of the whole package."""

    plaintext_sha256: str
    plaintext_size: int
    ciphertext_sha256: str
    ciphertext_size: int


def _payload_key(file_key: bytes) -> AESGCM:
    derived = HKDF(hashes.SHA256(), 32, salt=None, info=_PAYLOAD_INFO).derive(file_key)
    return AESGCM(derived)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_full(src: BinaryIO, size: int) -> bytes:
    """Read exactly `size` bytes unless the stream ends first."""
    parts: list[bytes] = []
    remaining = size
    while remaining:
        block = src.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


def seal_stream(
    src: BinaryIO,
    dst: BinaryIO,
    recipient: X25519PublicKey,
    context: bytes,
    chunk_size: int = CHUNK_SIZE,
) -> SealResult:
    """Encrypt everything `src` yields into `dst` for `recipient`, bound to `context`."""
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError("chunk size out of range")
    file_key = secrets.token_bytes(32)
    wrapped = _HPKE.encrypt(file_key, recipient, info=_HPKE_INFO + context)
    header = canonical_json(
        {"chunk_size": chunk_size, "suite": SUITE_NAME, "wrapped_key": b64encode(wrapped)}
    )
    preamble = MAGIC + struct.pack(">I", len(header)) + header
    aad = hashlib.sha256(preamble).digest()
    aead = _payload_key(file_key)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    dst.write(preamble)
    cipher_hash.update(preamble)
    cipher_size, plain_size = len(preamble), 0
    counter = 0
    chunk = _read_full(src, chunk_size)
    while True:
        following = _read_full(src, chunk_size) if len(chunk) == chunk_size else b""
        last = not following
        plain_hash.update(chunk)
        sealed = aead.encrypt(_nonce(counter, last), chunk, aad)
        dst.write(sealed)
        cipher_hash.update(sealed)
        plain_size += len(chunk)
        cipher_size += len(sealed)
        if last:
            break
        chunk, counter = following, counter + 1
    return SealResult(plain_hash.hexdigest(), plain_size, cipher_hash.hexdigest(), cipher_size)


@dataclass(frozen=True)
class PackageHeader:
    chunk_size: int
    wrapped_key: bytes
    preamble: bytes


def read_header(src: BinaryIO) -> PackageHeader:
    """Read and check a package's preamble; the stream is left at the first chunk."""
    if _read_full(src, len(MAGIC)) != MAGIC:
        raise SealedPackageError("not a SafeSmart sealed package (bad magic)")
    length_bytes = _read_full(src, 4)
    if len(length_bytes) != 4:
        raise SealedPackageError("the package is truncated inside its header")
    (length,) = struct.unpack(">I", length_bytes)
    if length > MAX_HEADER:
        raise SealedPackageError("the package header is too large")
    header = _read_full(src, length)
    if len(header) != length:
        raise SealedPackageError("the package is truncated inside its header")
    try:
        fields = ObjectReader(json.loads(header), "header", {"chunk_size", "suite", "wrapped_key"})
        chunk_size = fields.integer("chunk_size", minimum=1, maximum=MAX_CHUNK_SIZE)
        suite = fields.text("suite", max_len=200)
        wrapped = b64decode(fields.raw("wrapped_key"), "header.wrapped_key")
    except (ValueError, MalformedMessageError) as err:
        raise SealedPackageError(f"the package header is malformed: {err}") from err
    if suite != SUITE_NAME:
        raise SealedPackageError(f"unsupported suite {suite!r}")
    if canonical_json(json.loads(header)) != header:
        raise SealedPackageError("the package header is not canonical JSON")
    return PackageHeader(chunk_size, wrapped, MAGIC + length_bytes + header)


def open_stream(
    src: BinaryIO,
    dst: BinaryIO | None,
    recipient: X25519PrivateKey,
    context: bytes,
    on_chunk: Callable[[int], None] | None = None,
) -> SealResult:
    """Decrypt a package from `src` into `dst` (or only check it when `dst` is None).

    Plaintext reaches `dst` chunk by chunk before the end is authenticated: write it to a
    temporary file and keep it only if this returns (open_file does).
    """
    header = read_header(src)
    try:
        file_key = _HPKE.decrypt(header.wrapped_key, recipient, info=_HPKE_INFO + context)
    except Exception as err:  # the binding raises a generic error for any HPKE failure
        raise SealedPackageError("the package is not for this key or this request") from err
    aad = hashlib.sha256(header.preamble).digest()
    aead = _payload_key(file_key)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256(header.preamble)
    plain_size, cipher_size = 0, len(header.preamble)
    sealed_size = header.chunk_size + TAG_SIZE
    counter = 0
    chunk = _read_full(src, sealed_size)
    if not chunk:
        raise SealedPackageError("the package is truncated: no payload")
    while True:
        following = _read_full(src, sealed_size) if len(chunk) == sealed_size else b""
        last = not following
        try:
            plain = aead.decrypt(_nonce(counter, last), chunk, aad)
        except InvalidTag as err:
            reason = "truncated or tampered with" if last else "tampered with"
            raise SealedPackageError(f"the package is {reason} (chunk {counter})") from err
        if last and not plain and counter > 0:
            raise SealedPackageError("the package ends with an empty chunk")
        plain_hash.update(plain)
        cipher_hash.update(chunk)
        plain_size += len(plain)
        cipher_size += len(chunk)
        if dst is not None:
            dst.write(plain)
        if on_chunk is not None:
            on_chunk(plain_size)
        if last:
            break
        chunk, counter = following, counter + 1
    return SealResult(plain_hash.hexdigest(), plain_size, cipher_hash.hexdigest(), cipher_size)


def _atomic(dst: Path, write: Callable[[BinaryIO], SealResult]) -> SealResult:
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def seal_file(src: Path, dst: Path, recipient: X25519PublicKey, context: bytes) -> SealResult:
    """Seal the file `src` into `dst` (written atomically: complete or absent)."""
    with src.open("rb") as source:
        return _atomic(dst, lambda out: seal_stream(source, out, recipient, context))


def open_file(src: Path, dst: Path, recipient: X25519PrivateKey, context: bytes) -> SealResult:
    """Open the package `src` into `dst`; on any failure `dst` is not created."""
    with src.open("rb") as source:
        return _atomic(dst, lambda out: open_stream(source, out, recipient, context))
