"""Decrypting a verified upload for an investigator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from city.keys import CityKeys
from city.verification import (
    UploadState,
    VerificationError,
    connect,
    load_record,
    package_context,
    package_path,
)
from protocol.custody import Manifest
from protocol.errors import ProtocolError
from protocol.sealing import open_file


def open_upload(
    db_path: Path, folder: Path, keys: CityKeys, upload_id: str, out: Path
) -> dict[str, Any]:
    """Decrypt a verified upload to `out` and return its manifest; nothing is written on failure.

    The package is checked again while it is decrypted (size, ciphertext and clip hashes, every
    chunk's tag), so a stored package altered or truncated since verification is refused.
    """
    with connect(db_path) as conn:
        record = load_record(conn, upload_id)
    if record is None:
        raise VerificationError(f"No upload {upload_id} is known here.")
    if record.state is not UploadState.VERIFIED:
        raise VerificationError(
            f"Upload {upload_id} is {record.state.value}; only verified uploads can be opened."
        )
    if out.exists():
        raise VerificationError(f"{out.name} already exists; choose another output file.")
    manifest = Manifest.from_json(record.envelope.body)
    path = package_path(folder, upload_id)
    if not path.is_file() or path.stat().st_size != manifest.ciphertext_size:
        raise VerificationError(
            "The stored package is missing or was truncated since it was verified."
        )
    try:
        result = open_file(path, out, keys.encryption, package_context(manifest))
    except ProtocolError as err:
        raise VerificationError(f"The stored package no longer opens: {err}") from err
    if (
        result.ciphertext_sha256 != manifest.ciphertext_sha256
        or result.plaintext_sha256 != manifest.redacted_sha256
    ):
        out.unlink(missing_ok=True)
        raise VerificationError("The stored package differs from its signed manifest.")
    return {
        "upload_id": upload_id,
        "request_id": manifest.request_id,
        "registration_id": manifest.registration_id,
        "part": manifest.part,
        "parts": manifest.parts,
        "out_sha256": result.plaintext_sha256,
        "out_size": result.plaintext_size,
        "verified_at": record.verified_at,
        "manifest": manifest.to_json(),
    }
