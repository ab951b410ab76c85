"""Admitting a new upload: its signed manifest, what was requested, one answer per part."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from city.tus import UploadProblem
from city.verification import UploadRecord, UploadState, load_record
from protocol.custody import Manifest
from protocol.errors import ProtocolError
from protocol.signing import Domain, SignedEnvelope, verify
from protocol.timeutil import format_time, parse_time

type RequestTarget = Callable[[str], tuple[str, tuple[str, ...]] | None]


def check_manifest(
    gateway_id: str,
    body: bytes,
    gateway_key: Callable[[str], Ed25519PublicKey | None],
    request_target: RequestTarget,
) -> tuple[SignedEnvelope, Manifest]:
    """The manifest envelope of a create request, checked against the requests issued."""
    public_key = gateway_key(gateway_id)
    if public_key is None:  # authenticated a moment ago; the gateway was just removed
        raise UploadProblem(401, "Not authenticated", "This gateway is not enrolled.")
    try:
        envelope = SignedEnvelope.from_json(json.loads(body))
        manifest = Manifest.from_json(verify(envelope, public_key, Domain.UPLOAD_MANIFEST))
    except (ProtocolError, ValueError) as err:
        raise UploadProblem(422, "Bad manifest",
                            f"The manifest is not one signed by this gateway: {err}.") from err
    if manifest.gateway_id != gateway_id:
        raise UploadProblem(403, "Wrong gateway", "The manifest names another gateway.")
    target = request_target(manifest.request_id)
    if target is None:
        raise UploadProblem(404, "Unknown request",
                            "This city issued no footage request with that id.")
    if target[0] != gateway_id or manifest.registration_id not in target[1]:
        raise UploadProblem(403, "Not requested",
                            "That request did not ask this gateway for this camera.")
    return envelope, manifest


def reuse_or_insert(
    conn: sqlite3.Connection,
    gateway_id: str,
    envelope: SignedEnvelope,
    manifest: Manifest,
    now: datetime,
    expiry: timedelta,
) -> tuple[UploadRecord, bool]:
    """The live upload for this manifest's key, or a new one (and whether it is new).

    Run inside a write transaction. One verified package per (request, camera, part); every
    part of a camera's answer must agree on how many parts there are.
    """
    key = envelope.digest()
    for (upload_id,) in conn.execute(
        "SELECT upload_id FROM uploads WHERE idempotency_key = ? AND gateway_id = ? "
        "AND state != 'terminated' ORDER BY created_at DESC", (key, gateway_id)
    ).fetchall():
        record = load_record(conn, upload_id)
        if record is not None and not expired(record, now):
            return record, False
    siblings = [
        record for (upload_id,) in conn.execute(
            "SELECT upload_id FROM uploads WHERE request_id = ? AND registration_id = ? "
            "AND state IN ('receiving', 'complete', 'verified')",
            (manifest.request_id, manifest.registration_id),
        ).fetchall()
        if (record := load_record(conn, upload_id)) is not None and not expired(record, now)
    ]
    if any(r.part == manifest.part and r.state is UploadState.VERIFIED for r in siblings):
        raise UploadProblem(409, "Already delivered",
                            f"A different package for part {manifest.part} of this request and "
                            "camera was verified.")
    other = next((r for r in siblings if r.parts != manifest.parts), None)
    if other is not None:
        raise UploadProblem(422, "Parts disagree",
                            f"This camera's answer was announced in {other.parts} parts; this "
                            f"manifest says {manifest.parts}.")
    upload_id = str(uuid.uuid4())
    conn.execute(
        'INSERT INTO uploads (upload_id, request_id, registration_id, part, parts, gateway_id, '
        'idempotency_key, state, length, "offset", manifest_json, manifest_sha256, '
        "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        (upload_id, manifest.request_id, manifest.registration_id, manifest.part,
         manifest.parts, gateway_id, key, UploadState.RECEIVING.value, manifest.ciphertext_size,
         json.dumps(envelope.to_json()), key, format_time(now), format_time(now + expiry)),
    )
    record = load_record(conn, upload_id)
    assert record is not None
    return record, True


def expired(record: UploadRecord, now: datetime) -> bool:
    """An upload still receiving past its expiry time."""
    return (record.state is UploadState.RECEIVING
            and parse_time(record.expires_at, "expires_at") <= now)
