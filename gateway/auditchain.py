"""The audit log's format (pure): entry kinds, entry hashes, what data may hold, chain checks.

A plain SHA-256 hash chain: each entry's hash covers its fields and the previous entry's
hash; checkpoints signed by the device key fix the chain's size and head. See docs/audit-log.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.canonical import canonical_json
from protocol.errors import ProtocolError
from protocol.signing import Domain, SignedEnvelope, encode_public_key, verify
from protocol.timeutil import parse_time

# Domain separation: an entry hash can never collide with any other SHA-256 the system makes.
ENTRY_HASH_PREFIX = b"SafeSmart/audit-entry/v1\x00"
GENESIS_HASH = "0" * 64
ENTRY_FIELDS = ("seq", "at", "kind", "request_id", "data", "prev_hash")

# Keys whose values would be secrets; the log is handed to third parties, so never store them.
_SECRET_KEY = re.compile(r"token|secret|password|passphrase|private|api_key|nonce", re.IGNORECASE)
# POSIX absolute, home-relative, Windows drive or UNC paths, and file URLs.
_ABSOLUTE_PATH = re.compile(r"^(/|~/|[A-Za-z]:[\\/]|\\\\|file:)")


class AuditKind(StrEnum):
    """What happened; the value is what the log stores."""

    ENROLLED = "enrolled"
    CAMERA_REGISTERED = "camera_registered"
    CAMERA_WITHDRAWN = "camera_withdrawn"
    REQUEST_RECEIVED = "request_received"
    REQUEST_REJECTED = "request_rejected"
    REQUEST_SHOWN = "request_shown"
    REQUEST_DECIDED = "request_decided"
    RULE_MATCHED = "rule_matched"
    REQUEST_EXPIRED = "request_expired"
    FOOTAGE_FETCHED = "footage_fetched"
    REDACTED = "redacted"
    SEALED = "sealed"
    UPLOAD_STARTED = "upload_started"
    UPLOAD_DONE = "upload_done"
    UPLOAD_ACKNOWLEDGED = "upload_acknowledged"
    UPLOAD_FAILED = "upload_failed"
    DECLINE_REPLY_SENT = "decline_reply_sent"


class AuditError(Exception):
    """The audit log could not record or read an entry."""


class AuditDataError(AuditError, ValueError):
    """Entry data would put a secret, a file path or non-JSON into the log."""


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking a log; `problems` says exactly what is wrong and where."""

    ok: bool
    entries: int
    checkpoints: int
    problems: tuple[str, ...]


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the domain prefix and the canonical JSON of an entry's hashed fields."""
    return hashlib.sha256(
        ENTRY_HASH_PREFIX + canonical_json({name: fields[name] for name in ENTRY_FIELDS})
    ).hexdigest()


def check_data(value: object, where: str = "data") -> None:
    """Reject entry data holding secrets, absolute paths, or values JSON cannot carry."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditDataError(f"{where}: keys must be strings")
            if _SECRET_KEY.search(key):
                raise AuditDataError(f"{where}.{key}: secrets and tokens never go in the audit log")
            check_data(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_data(item, f"{where}[{index}]")
    elif isinstance(value, str):
        if _ABSOLUTE_PATH.match(value.strip()):
            raise AuditDataError(f"{where}: file paths never go in the audit log")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise AuditDataError(f"{where}: NaN and infinity cannot be logged")
    elif not (value is None or isinstance(value, bool | int)):
        raise AuditDataError(f"{where}: {type(value).__name__} is not a JSON value")


def check_chain(
    entries: list[dict[str, Any]], checkpoints: list[object], public_key: Ed25519PublicKey
) -> list[str]:
    problems: list[str] = []
    expected_fields = {*ENTRY_FIELDS, "hash"}
    prev = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or set(entry) != expected_fields:
            problems.append(f"entry {position}: wrong set of fields")
            prev = entry.get("hash", "") if isinstance(entry, dict) else ""
            continue
        if entry["seq"] != position:
            problems.append(
                f"entry {position}: has seq {entry['seq']!r}, expected {position}"
                " (an entry was deleted, inserted or reordered)"
            )
        if entry["prev_hash"] != prev:
            problems.append(
                f"entry {position}: prev_hash does not match the hash of the entry before it"
            )
        try:
            recomputed = entry_hash(entry)
        except ProtocolError:
            recomputed = ""
        if entry["hash"] != recomputed:
            problems.append(f"entry {position}: hash does not match its contents (it was altered)")
        problems.extend(_check_entry_values(position, entry))
        prev = entry["hash"]
    for number, raw in enumerate(checkpoints, start=1):
        problems.extend(_check_checkpoint(number, raw, entries, public_key))
    return problems


def _check_entry_values(position: int, entry: Mapping[str, Any]) -> list[str]:
    problems = []
    try:
        parse_time(entry["at"])
    except ProtocolError:
        problems.append(f"entry {position}: 'at' is not an RFC 3339 time")
    if entry["kind"] not in AuditKind.__members__.values():
        problems.append(f"entry {position}: unknown kind {entry['kind']!r}")
    if not isinstance(entry["data"], dict):
        problems.append(f"entry {position}: data is not an object")
    return problems


def _check_checkpoint(
    number: int, raw: object, entries: list[dict[str, Any]], public_key: Ed25519PublicKey
) -> list[str]:
    try:
        body = verify(SignedEnvelope.from_json(raw), public_key, Domain.AUDIT_CHECKPOINT)
    except ProtocolError as err:
        return [f"checkpoint {number}: not a valid signature by this gateway's device key ({err})"]
    size, head = body.get("size"), body.get("head")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return [f"checkpoint {number}: size is not a non-negative integer"]
    if body.get("gateway_key") != encode_public_key(public_key):
        return [f"checkpoint {number}: names a different gateway key"]
    if size > len(entries):
        return [
            f"checkpoint {number}: covers {size} entries but the log holds only {len(entries)}"
            " (the log was truncated)"
        ]
    actual = entries[size - 1].get("hash") if size else GENESIS_HASH
    if actual != head:
        return [
            f"checkpoint {number}: head does not match the hash of entry {size}"
            " (the log was rewritten)"
        ]
    return []
