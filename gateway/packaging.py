"""Sealing a redacted clip into the upload spool, with its signed chain-of-custody manifest."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from protocol.canonical import canonical_json
from protocol.custody import MAX_PARTS, Manifest
from protocol.errors import ProtocolError
from protocol.sealing import seal_file
from protocol.signing import Domain, SignedEnvelope, sign, verify
from protocol.timeutil import TimeWindow, utcnow


class PackagingError(Exception):
    """A clip could not be sealed; the message says what to do about it."""


@dataclass(frozen=True)
class SealedClip:
    """A sealed package in the spool, ready for the upload queue."""

    upload_key: str  # idempotency key = manifest envelope digest
    request_id: str
    registration_id: str
    part: int  # 1-based, of `parts` clips in the camera's answer
    parts: int
    package_path: Path  # the spooled ciphertext; written once, never re-encrypted
    manifest: SignedEnvelope  # Domain.UPLOAD_MANIFEST, signed by the device key
    ciphertext_size: int


def package_context(request_id: str, registration_id: str, part: int) -> bytes:
    """The bytes binding a package to its request, camera and part (the sealing `context`).

    With the part inside, a package cannot be replayed as another part of the same answer.
    """
    return canonical_json(
        {"part": part, "registration_id": registration_id, "request_id": request_id}
    )


def seal_clip(
    *,
    redacted: Path,
    spool_dir: Path,
    device_key: Ed25519PrivateKey,
    city_encryption_key: X25519PublicKey,
    gateway_id: str,
    request_id: str,
    registration_id: str,
    part: int,
    parts: int,
    clip: TimeWindow,
    original_sha256: str,
    redaction: Mapping[str, Any],
    source: Mapping[str, Any],
    audit_checkpoint: Mapping[str, Any],
) -> SealedClip:
    """Encrypt `redacted` to the city into the spool and sign its manifest.

    Sealing is done once per (request, camera, part): when the spool already holds a package
    for them, that package is returned as it is, so a retry never encrypts again under a new
    key.
    """
    if not 1 <= part <= parts <= MAX_PARTS:
        raise PackagingError(
            f"A camera's answer has 1 to {MAX_PARTS} clips; part {part} of {parts} is not one."
        )
    context = package_context(request_id, registration_id, part)
    stem = f"{hashlib.sha256(context).hexdigest()[:32]}-part{part}"
    package_path = spool_dir / f"{stem}.sealed"
    manifest_path = spool_dir / f"{stem}.manifest.json"
    existing = _load_existing(package_path, manifest_path, device_key, context)
    if existing is not None:
        if existing.parts != parts:
            raise PackagingError(
                f"Part {part} was sealed as one of {existing.parts} clips, but the camera now "
                f"has {parts} recordings in the window; remove the spooled part and retry."
            )
        return existing
    if not redacted.is_file():
        raise PackagingError("The redacted clip is missing; redact the footage again.")
    spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        result = seal_file(redacted, package_path, city_encryption_key, context)
    except OSError as err:
        raise PackagingError(
            f"The clip could not be written to the upload spool ({err.strerror}); "
            "free some disk space and approve again."
        ) from err
    manifest = Manifest(
        request_id=request_id,
        gateway_id=gateway_id,
        registration_id=registration_id,
        part=part,
        parts=parts,
        clip=clip,
        original_sha256=original_sha256,
        redacted_sha256=result.plaintext_sha256,
        ciphertext_sha256=result.ciphertext_sha256,
        ciphertext_size=result.ciphertext_size,
        redaction=dict(redaction),
        source=dict(source),
        audit_checkpoint=dict(audit_checkpoint),
        created_at=utcnow(),
    )
    envelope = sign(device_key, Domain.UPLOAD_MANIFEST, manifest.to_json())
    _write_atomically(manifest_path, json.dumps(envelope.to_json()).encode())
    return _sealed(envelope, manifest, package_path)


def _load_existing(
    package_path: Path,
    manifest_path: Path,
    device_key: Ed25519PrivateKey,
    context: bytes,
) -> SealedClip | None:
    """The spooled package for this request, camera and part, if a complete one is there."""
    if not manifest_path.is_file() or not package_path.is_file():
        return None
    try:
        envelope = SignedEnvelope.from_json(json.loads(manifest_path.read_bytes()))
        manifest = Manifest.from_json(
            verify(envelope, device_key.public_key(), Domain.UPLOAD_MANIFEST)
        )
    except (ProtocolError, ValueError) as err:
        raise PackagingError(
            "The upload spool holds a damaged manifest for this clip; remove it and approve again."
        ) from err
    if (
        package_context(manifest.request_id, manifest.registration_id, manifest.part) != context
        or package_path.stat().st_size != manifest.ciphertext_size
    ):
        raise PackagingError(
            "The upload spool holds a different package for this clip; remove it and approve again."
        )
    return _sealed(envelope, manifest, package_path)


def _sealed(envelope: SignedEnvelope, manifest: Manifest, package_path: Path) -> SealedClip:
    return SealedClip(
        upload_key=envelope.digest(),
        request_id=manifest.request_id,
        registration_id=manifest.registration_id,
        part=manifest.part,
        parts=manifest.parts,
        package_path=package_path,
        manifest=envelope,
        ciphertext_size=manifest.ciphertext_size,
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write, fsync and rename, so a crash leaves either nothing or the whole file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
