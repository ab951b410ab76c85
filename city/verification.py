"""The record of each received upload, its check against the signed manifest, and the receipt."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from city.keys import CityKeys
from protocol.canonical import canonical_json
from protocol.custody import Acknowledgement, Manifest
from protocol.errors import ProtocolError
from protocol.sealing import open_stream
from protocol.signing import Domain, SignedEnvelope, sign, verify
from protocol.timeutil import format_time, parse_time, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    part INTEGER NOT NULL DEFAULT 1,
    parts INTEGER NOT NULL DEFAULT 1,
    gateway_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL,
    length INTEGER NOT NULL,
    "offset" INTEGER NOT NULL DEFAULT 0,
    manifest_json TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    verified_at TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (idempotency_key);
CREATE INDEX IF NOT EXISTS uploads_by_request ON uploads (request_id, registration_id);
"""


class VerificationError(Exception):
    """An upload is unknown, unfinished, or does not match its signed manifest."""


class UploadState(StrEnum):
    RECEIVING = "receiving"
    COMPLETE = "complete"
    VERIFIED = "verified"
    REJECTED = "rejected"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class UploadRecord:
    """One row of the `uploads` table."""

    upload_id: str
    request_id: str
    registration_id: str
    part: int  # of `parts` clips in the camera's answer
    parts: int
    gateway_id: str
    idempotency_key: str
    state: UploadState
    length: int
    offset: int
    manifest_json: str
    manifest_sha256: str
    created_at: str
    expires_at: str
    verified_at: str | None
    error: str | None

    @property
    def envelope(self) -> SignedEnvelope:
        return SignedEnvelope.from_json(json.loads(self.manifest_json))

    def to_json(self) -> dict[str, Any]:
        """The row as the city's admin views and CLI show it (the manifest parsed)."""
        return {
            "upload_id": self.upload_id, "request_id": self.request_id,
            "registration_id": self.registration_id, "part": self.part, "parts": self.parts,
            "gateway_id": self.gateway_id,
            "state": self.state.value, "length": self.length, "offset": self.offset,
            "manifest_sha256": self.manifest_sha256, "created_at": self.created_at,
            "expires_at": self.expires_at, "verified_at": self.verified_at, "error": self.error,
            "manifest": self.envelope.body,
        }


def open_database(db_path: Path) -> sqlite3.Connection:
    """A connection to the city's database (WAL, autocommit), with the uploads table in place."""
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # A lost offset commit after power loss only makes the gateway resend bytes; the bytes
    # themselves are fsynced before the offset moves.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    _add_part_columns(conn)
    return conn


def _add_part_columns(conn: sqlite3.Connection) -> None:
    """Databases from before multi-part answers hold single clips: part 1 of 1."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(uploads)")}
    for column in ("part", "parts"):
        if column not in columns:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                conn.execute(
                    f"ALTER TABLE uploads ADD COLUMN {column} INTEGER NOT NULL DEFAULT 1")


@contextlib.contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection, for one-off checks outside the server."""
    conn = open_database(db_path)
    try:
        yield conn
    finally:
        conn.close()


def load_record(conn: sqlite3.Connection, upload_id: str) -> UploadRecord | None:
    row = conn.execute("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
    if row is None:
        return None
    values = dict(row)
    values["state"] = UploadState(values["state"])
    return UploadRecord(**values)


def package_path(folder: Path, upload_id: str) -> Path:
    """Where a completely received package is kept."""
    return folder / f"{upload_id}.sealed"


def partial_path(folder: Path, upload_id: str) -> Path:
    """Where a package is written while it is being received."""
    return folder / f"{upload_id}.part"


def package_context(manifest: Manifest) -> bytes:
    """The sealing context binding a package to its request, camera and part."""
    return canonical_json({
        "part": manifest.part, "registration_id": manifest.registration_id,
        "request_id": manifest.request_id,
    })


def verify_upload(
    db_path: Path,
    folder: Path,
    keys: CityKeys,
    upload_id: str,
    gateway_key: Callable[[str], Ed25519PublicKey | None],
) -> dict[str, Any]:
    """Check a finished upload against its manifest (signature, hashes, full decryption).

    A passing upload becomes `verified`; a failing one becomes `rejected` with the reason, and
    VerificationError is raised.
    """
    with connect(db_path) as conn:
        record = load_record(conn, upload_id)
    if record is None:
        raise VerificationError(f"No upload {upload_id} is known here.")
    if record.state in (UploadState.RECEIVING, UploadState.TERMINATED):
        raise VerificationError(f"Upload {upload_id} is {record.state.value}, not finished.")
    try:
        manifest = _check(record, folder, keys, gateway_key)
    except VerificationError as err:
        with connect(db_path) as conn:
            conn.execute(
                "UPDATE uploads SET state = ?, error = ? WHERE upload_id = ?",
                (UploadState.REJECTED.value, str(err), upload_id),
            )
        raise
    verified_at = record.verified_at or format_time(utcnow())
    with connect(db_path) as conn:
        conn.execute(
            "UPDATE uploads SET state = ?, verified_at = ?, error = NULL WHERE upload_id = ?",
            (UploadState.VERIFIED.value, verified_at, upload_id),
        )
    return {
        "upload_id": upload_id, "state": UploadState.VERIFIED.value,
        "request_id": manifest.request_id, "registration_id": manifest.registration_id,
        "part": manifest.part, "parts": manifest.parts, "gateway_id": manifest.gateway_id,
        "ciphertext_sha256": manifest.ciphertext_sha256,
        "redacted_sha256": manifest.redacted_sha256, "verified_at": verified_at,
    }


def _check(
    record: UploadRecord,
    folder: Path,
    keys: CityKeys,
    gateway_key: Callable[[str], Ed25519PublicKey | None],
) -> Manifest:
    public_key = gateway_key(record.gateway_id)
    if public_key is None:
        raise VerificationError("The gateway that sent this upload is no longer enrolled.")
    try:
        manifest = Manifest.from_json(verify(record.envelope, public_key, Domain.UPLOAD_MANIFEST))
    except ProtocolError as err:
        raise VerificationError(f"The manifest signature does not verify: {err}") from err
    path = package_path(folder, record.upload_id)
    if not path.is_file() or path.stat().st_size != manifest.ciphertext_size:
        raise VerificationError("The package is missing or its size differs from the manifest.")
    try:
        with path.open("rb") as package:  # every chunk is decrypted and checked, none kept
            result = open_stream(package, None, keys.encryption, package_context(manifest))
    except ProtocolError as err:
        raise VerificationError(f"The package does not open: {err}") from err
    if result.ciphertext_sha256 != manifest.ciphertext_sha256:
        raise VerificationError("The package's SHA-256 differs from the signed manifest.")
    if result.plaintext_sha256 != manifest.redacted_sha256:
        raise VerificationError("The decrypted clip's SHA-256 differs from the signed manifest.")
    return manifest


def acknowledgement(keys: CityKeys, record: UploadRecord) -> SignedEnvelope:
    """The city's signed receipt for a verified upload (deterministic for a given record)."""
    if record.state is not UploadState.VERIFIED or record.verified_at is None:
        raise VerificationError(f"Upload {record.upload_id} is not verified.")
    manifest = Manifest.from_json(record.envelope.body)
    ack = Acknowledgement(
        upload_id=record.upload_id,
        request_id=record.request_id,
        registration_id=record.registration_id,
        manifest_sha256=record.manifest_sha256,
        ciphertext_sha256=manifest.ciphertext_sha256,
        received_at=parse_time(record.verified_at, "verified_at"),
    )
    return sign(keys.signing, Domain.UPLOAD_ACKNOWLEDGEMENT, ack.to_json())
