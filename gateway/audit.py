"""The resident's tamper-evident log, kept in the gateway's SQLite database.

Appends link entries into a hash chain (format in gateway/auditchain.py); checkpoints sign
the chain's size and head with the device key; export writes JSON Lines that anyone holding
the device public key can check with `verify_export`. See docs/audit-log.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.canonical import canonical_json
from protocol.errors import ProtocolError
from protocol.signing import Domain, SignedEnvelope, encode_public_key, sign
from protocol.timeutil import format_time, parse_time, utcnow

from .auditchain import (
    GENESIS_HASH,
    AuditDataError,
    AuditError,
    AuditKind,
    AuditVerification,
    check_chain,
    check_data,
    entry_hash,
)
from .database import create_tables, transaction

__all__ = [
    "AuditDataError", "AuditEntry", "AuditError", "AuditKind", "AuditLog", "AuditVerification",
    "verify_database", "verify_export",
]  # fmt: skip

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_request ON audit_entries(request_id);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    envelope TEXT NOT NULL
);
"""
_HEAD = "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
_CHECKPOINTS = "SELECT envelope FROM audit_checkpoints ORDER BY id"


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain."""

    seq: int
    at: datetime
    kind: AuditKind
    request_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": format_time(self.at),
            "kind": self.kind.value,
            "request_id": self.request_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class AuditLog:
    """Appends to and checkpoints the chain kept in the gateway's SQLite database."""

    def __init__(self, db_path: Path, device_key: Ed25519PrivateKey) -> None:
        self._db_path = db_path
        self._device_key = device_key
        create_tables(db_path, _SCHEMA)

    def append(
        self,
        kind: AuditKind,
        request_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> AuditEntry:
        """Record one event at the end of the chain."""
        kind = AuditKind(kind)
        body = dict(data or {})
        check_data(body)
        # Round-trip through JSON so the stored entry equals what was hashed (tuples -> lists).
        body = json.loads(canonical_json(body))
        at = format_time(now or utcnow())
        with transaction(self._db_path) as db:
            row = db.execute(_HEAD).fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS_HASH)
            fields = {
                "seq": seq, "at": at, "kind": kind.value, "request_id": request_id,
                "data": body, "prev_hash": prev,
            }  # fmt: skip
            digest = entry_hash(fields)
            db.execute(
                "INSERT INTO audit_entries (seq, at, kind, request_id, data, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, at, kind.value, request_id, json.dumps(body), prev, digest),
            )
        return AuditEntry(seq, parse_time(at), kind, request_id, body, prev, digest)

    def checkpoint(self, now: datetime | None = None) -> SignedEnvelope:
        """Sign and store the chain's current size and head."""
        public = self._device_key.public_key()
        with transaction(self._db_path) as db:
            row = db.execute(_HEAD).fetchone()
            size, head = (row[0], row[1]) if row else (0, GENESIS_HASH)
            body = {
                "size": size,
                "head": head,
                "at": format_time(now or utcnow()),
                "gateway_key": encode_public_key(public),
            }
            envelope = sign(self._device_key, Domain.AUDIT_CHECKPOINT, body)
            db.execute(
                "INSERT INTO audit_checkpoints (size, envelope) VALUES (?, ?)",
                (size, json.dumps(envelope.to_json())),
            )
        return envelope

    def entries(self, request_id: str | None = None) -> list[AuditEntry]:
        """All entries in chain order, or those about one request."""
        with transaction(self._db_path) as db:
            if request_id is None:
                rows = db.execute("SELECT * FROM audit_entries ORDER BY seq").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM audit_entries WHERE request_id = ? ORDER BY seq", (request_id,)
                ).fetchall()
        return [_entry_from_row(row) for row in rows]

    def export(self, path: Path) -> int:
        """Write entries then checkpoints as JSON Lines, atomically; return the entry count.
        AuditError, with nothing written, for a path that is no file's (a folder, a device, a
        pipe: the export would replace it) or that cannot be written."""
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "a device, a pipe or a socket"
            raise AuditError(f"{path} is {kind}; name a file to export to")
        if not path.parent.is_dir():
            raise AuditError(f"the folder {path.parent} does not exist")
        try:
            return self._export(path)
        except OSError as err:
            raise AuditError(f"cannot write {path}: {err.strerror or err}") from err

    def _export(self, path: Path) -> int:
        with transaction(self._db_path) as db:
            rows = db.execute("SELECT * FROM audit_entries ORDER BY seq").fetchall()
            checkpoints = db.execute(_CHECKPOINTS).fetchall()
        fd, tmp = tempfile.mkstemp(prefix=".audit-export-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps({"type": "entry", **_row_fields(row)}) + "\n")
                for (envelope,) in checkpoints:
                    out.write(json.dumps({"type": "checkpoint", "envelope": json.loads(envelope)}))
                    out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(rows)


def _row_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, at, kind, request_id, data, prev_hash, digest = row
    return {
        "seq": seq, "at": at, "kind": kind, "request_id": request_id,
        "data": json.loads(data), "prev_hash": prev_hash, "hash": digest,
    }  # fmt: skip


def _entry_from_row(row: tuple[Any, ...]) -> AuditEntry:
    f = _row_fields(row)
    try:
        return AuditEntry(
            f["seq"], parse_time(f["at"]), AuditKind(f["kind"]), f["request_id"], f["data"],
            f["prev_hash"], f["hash"],
        )  # fmt: skip
    except (ValueError, ProtocolError) as err:
        raise AuditError(
            f"audit entry {f['seq']} is unreadable ({err}); run the audit log verification"
        ) from err


def verify_export(path: Path, device_public_key: Ed25519PublicKey) -> AuditVerification:
    """Check an exported log: every hash, every link, every checkpoint signature and head."""
    entries: list[dict[str, Any]] = []
    checkpoints: list[object] = []
    problems: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        return AuditVerification(False, 0, 0, (f"cannot read the export: {err}",))
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number}: not valid JSON")
            continue
        kind = record.pop("type", None) if isinstance(record, dict) else None
        if kind == "entry" and not checkpoints:
            entries.append(record)
        elif kind == "entry":
            problems.append(f"line {number}: an entry after the checkpoints (lines were reordered)")
        elif kind == "checkpoint" and set(record) == {"envelope"}:
            checkpoints.append(record["envelope"])
        else:
            problems.append(f"line {number}: neither an entry nor a checkpoint")
    problems.extend(check_chain(entries, checkpoints, device_public_key))
    return AuditVerification(not problems, len(entries), len(checkpoints), tuple(problems))


def verify_database(db_path: Path, device_public_key: Ed25519PublicKey) -> AuditVerification:
    """Check the log in the gateway's database, read-only."""
    if not db_path.is_file():
        return AuditVerification(False, 0, 0, ("the gateway database does not exist",))
    try:
        db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT * FROM audit_entries ORDER BY seq").fetchall()
            envelopes = db.execute(_CHECKPOINTS).fetchall()
        finally:
            db.close()
        entries = [_row_fields(row) for row in rows]
        checkpoints = [json.loads(envelope) for (envelope,) in envelopes]
    except (sqlite3.Error, json.JSONDecodeError) as err:
        return AuditVerification(False, 0, 0, (f"cannot read the audit tables: {err}",))
    problems = check_chain(entries, checkpoints, device_public_key)
    return AuditVerification(not problems, len(entries), len(checkpoints), tuple(problems))
