"""Resumable receipt of sealed uploads in the style of tus 1.0, streamed to disk."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import json
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from city.keys import CityKeys
from city.problems import problem
from city.verification import (
    UploadRecord,
    UploadState,
    VerificationError,
    acknowledgement,
    load_record,
    open_database,
    package_path,
    partial_path,
    verify_upload,
)
from protocol.errors import ProtocolError, SignatureError
from protocol.httpauth import EMPTY_BODY_SHA256, verify_http_request
from protocol.messages import Manifest
from protocol.signing import Domain, SignedEnvelope, verify
from protocol.timeutil import format_time, parse_time, utcnow

TUS_VERSION = "1.0.0"
MAX_MANIFEST_BYTES = 64 * 1024
READ_SIZE = 1 << 20  # bounded memory per PATCH, whatever its length
HTTP_CHECKSUM_MISMATCH = 460  # tus checksum extension

type RequestTarget = Callable[[str], tuple[str, tuple[str, ...]] | None]


class UploadProblem(Exception):
    """A refusal answered as an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str, **headers: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers

    def response(self) -> web.Response:
        answer = problem(self.status, self.title, self.detail)
        answer.headers.update({"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store",
                               **self.headers})
        return answer


def _answering_problems(
    handler: Callable[[UploadReceiver, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[UploadReceiver, web.Request], Awaitable[web.StreamResponse]]:
    """Answer an UploadProblem raised anywhere in `handler` with its problem document."""

    @functools.wraps(handler)
    async def answer(self: UploadReceiver, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except UploadProblem as problem:
            return problem.response()

    return answer


class UploadReceiver:
    """The city's upload routes; rows live in the shared database, bytes in `folder`."""

    def __init__(
        self,
        db_path: Path,
        folder: Path,
        keys: CityKeys,
        gateway_key: Callable[[str], Ed25519PublicKey | None],
        expiry: timedelta = timedelta(hours=24),
        max_upload_bytes: int = 8 * 2**30,
        *,
        request_target: RequestTarget | None = None,
    ) -> None:
        self.db_path, self.folder, self.keys = db_path, folder, keys
        self.gateway_key, self.expiry, self.max_upload_bytes = gateway_key, expiry, max_upload_bytes
        self.request_target = request_target or self._stored_request_target
        # One lock per upload while anyone holds it: PATCHes to one upload are serialised.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = open_database(db_path)  # used on the event loop only

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/uploads", self._create),
            web.head("/v1/uploads/{upload_id}", self._head),
            web.patch("/v1/uploads/{upload_id}", self._patch),
            web.delete("/v1/uploads/{upload_id}", self._terminate),
            web.get("/v1/uploads/{upload_id}/receipt", self._receipt),
        ]

    def list_uploads(self) -> list[dict[str, Any]]:
        """Every upload, newest first, as the admin views show it."""
        conn = self._db
        ids = [row[0] for row in conn.execute(
            "SELECT upload_id FROM uploads ORDER BY created_at DESC, upload_id")]
        records = [load_record(conn, upload_id) for upload_id in ids]
        return [record.to_json() for record in records if record is not None]

    # -- handlers ---------------------------------------------------------------------------

    @_answering_problems
    async def _create(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        body = await _small_body(request)
        gateway_id = self._authenticate(request, hashlib.sha256(body).hexdigest())
        return self._create_upload(request, gateway_id, body)

    @_answering_problems
    async def _head(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        record = self._own_record(request, self._authenticate(request, EMPTY_BODY_SHA256))
        self._require_open(record)
        return web.Response(status=200, headers=self._offset_headers(record))

    @_answering_problems
    async def _patch(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        if request.content_type != "application/offset+octet-stream":
            raise UploadProblem(415, "Wrong content type",
                                "PATCH bodies must be application/offset+octet-stream.")
        checksum = _checksum_header(request)
        offset = _int_header(request, "Upload-Offset")
        # Cheap pre-check before touching the disk; the signature is checked once the
        # streamed body's hash is known.
        claimed = request.headers.get("X-SafeSmart-Gateway", "")
        upload_id = request.match_info["upload_id"]
        async with self._lock(upload_id):
            record = self._own_record(request, claimed)
            self._require_open(record)
            if offset != record.offset:
                raise UploadProblem(409, "Offset mismatch",
                                    f"The upload is at byte {record.offset}, not {offset}.",
                                    **{"Upload-Offset": str(record.offset)})
            new_offset = await self._receive(request, record, checksum)
            if new_offset == record.length:
                await self._finish(record)
            return web.Response(status=204, headers={
                "Tus-Resumable": TUS_VERSION, "Upload-Offset": str(new_offset)})

    @_answering_problems
    async def _terminate(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        record = self._own_record(request, self._authenticate(request, EMPTY_BODY_SHA256))
        if record.state is UploadState.VERIFIED:
            raise UploadProblem(409, "Already verified",
                                "A verified upload is kept; it can no longer be withdrawn.")
        async with self._lock(record.upload_id):
            self._db.execute("UPDATE uploads SET state = ? WHERE upload_id = ?",
                             (UploadState.TERMINATED.value, record.upload_id))
            partial_path(self.folder, record.upload_id).unlink(missing_ok=True)
            package_path(self.folder, record.upload_id).unlink(missing_ok=True)
        return web.Response(status=204, headers={"Tus-Resumable": TUS_VERSION})

    @_answering_problems
    async def _receipt(self, request: web.Request) -> web.StreamResponse:
        record = self._own_record(request, self._authenticate(request, EMPTY_BODY_SHA256))
        if record.state is UploadState.COMPLETE or (
            record.state is UploadState.RECEIVING and record.offset == record.length
        ):
            # The city stopped between the last byte and the verdict: decide now.
            async with self._lock(record.upload_id):
                await self._finish(record)
            record = self._own_record(request, record.gateway_id)
        if record.state is UploadState.RECEIVING:
            raise UploadProblem(409, "Upload incomplete",
                                f"{record.offset} of {record.length} bytes received.",
                                **{"Upload-Offset": str(record.offset)})
        if record.state is UploadState.REJECTED:
            raise UploadProblem(422, "Upload rejected", record.error or "rejected")
        if record.state is UploadState.TERMINATED:
            raise UploadProblem(404, "Upload terminated", "This upload was terminated.")
        envelope = acknowledgement(self.keys, record)
        return web.json_response(envelope.to_json(), headers={"Cache-Control": "no-store"})

    # -- steps ------------------------------------------------------------------------------

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    def _authenticate(self, request: web.Request, body_sha256: str) -> str:
        try:
            return verify_http_request(request.headers, request.method, request.path_qs,
                                       body_sha256, self.gateway_key)
        except SignatureError as err:
            raise UploadProblem(401, "Not authenticated",
                                f"Not signed by an enrolled gateway: {err}.") from err

    def _create_upload(self, request: web.Request, gateway_id: str, body: bytes) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        length = _int_header(request, "Upload-Length")
        envelope, manifest = self._check_manifest(gateway_id, body)
        if key != envelope.digest():
            raise UploadProblem(400, "Wrong idempotency key",
                                "Idempotency-Key must be the SHA-256 of the manifest envelope.")
        if length != manifest.ciphertext_size:
            raise UploadProblem(400, "Wrong length",
                                "Upload-Length differs from the manifest's ciphertext_size.")
        if length > self.max_upload_bytes:
            raise UploadProblem(413, "Upload too large",
                                f"This city accepts packages up to {self.max_upload_bytes} bytes.")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            record, created = self._reuse_or_insert(gateway_id, key, envelope, manifest)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if created:
            partial_path(self.folder, record.upload_id).touch(mode=0o600)
        headers = self._offset_headers(record)
        headers["Location"] = f"/v1/uploads/{record.upload_id}"
        return web.Response(status=201 if created else 200, headers=headers)

    def _check_manifest(self, gateway_id: str, body: bytes) -> tuple[SignedEnvelope, Manifest]:
        public_key = self.gateway_key(gateway_id)
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
        target = self.request_target(manifest.request_id)
        if target is None:
            raise UploadProblem(404, "Unknown request",
                                "This city issued no footage request with that id.")
        if target[0] != gateway_id or manifest.registration_id not in target[1]:
            raise UploadProblem(403, "Not requested",
                                "That request did not ask this gateway for this camera.")
        return envelope, manifest

    def _reuse_or_insert(self, gateway_id: str, key: str,
                         envelope: SignedEnvelope, manifest: Manifest
                         ) -> tuple[UploadRecord, bool]:
        """The live upload for this idempotency key, or a new one (and whether it is new)."""
        conn = self._db
        for (upload_id,) in conn.execute(
            "SELECT upload_id FROM uploads WHERE idempotency_key = ? AND gateway_id = ? "
            "AND state != 'terminated' ORDER BY created_at DESC", (key, gateway_id)
        ).fetchall():
            record = load_record(conn, upload_id)
            if record is not None and not self._expired(record):
                return record, False
        verified = conn.execute(
            "SELECT 1 FROM uploads WHERE request_id = ? AND registration_id = ? "
            "AND state = 'verified' AND idempotency_key != ?",
            (manifest.request_id, manifest.registration_id, key),
        ).fetchone()
        if verified is not None:
            raise UploadProblem(409, "Already delivered",
                                "A different package for this request and camera was verified.")
        upload_id, now = str(uuid.uuid4()), utcnow()
        conn.execute(
            'INSERT INTO uploads (upload_id, request_id, registration_id, gateway_id, '
            'idempotency_key, state, length, "offset", manifest_json, manifest_sha256, '
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            (upload_id, manifest.request_id, manifest.registration_id, gateway_id, key,
             UploadState.RECEIVING.value, manifest.ciphertext_size,
             json.dumps(envelope.to_json()), envelope.digest(), format_time(now),
             format_time(now + self.expiry)),
        )
        record = load_record(conn, upload_id)
        assert record is not None
        return record, True

    def _own_record(self, request: web.Request, gateway_id: str) -> UploadRecord:
        record = load_record(self._db, request.match_info["upload_id"])
        # Another gateway's upload is answered as unknown: ids are not to be probed.
        if record is None or record.gateway_id != gateway_id:
            raise UploadProblem(404, "Unknown upload", "No such upload for this gateway.")
        return record

    def _require_open(self, record: UploadRecord) -> None:
        if record.state is UploadState.TERMINATED:
            raise UploadProblem(404, "Upload terminated", "This upload was terminated.")
        if self._expired(record):
            raise UploadProblem(410, "Upload expired",
                                "This upload expired before it was finished; start a new one.")

    def _expired(self, record: UploadRecord) -> bool:
        return (record.state is UploadState.RECEIVING
                and parse_time(record.expires_at, "expires_at") <= utcnow())

    def _offset_headers(self, record: UploadRecord) -> dict[str, str]:
        expires = parse_time(record.expires_at, "expires_at")
        return {"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(record.offset),
                "Upload-Length": str(record.length), "Cache-Control": "no-store",
                "Upload-Expires": format_datetime(expires, usegmt=True)}

    async def _receive(self, request: web.Request, record: UploadRecord, checksum: bytes) -> int:
        """Stream the body to the .part file at the offset; keep it only if it checks out."""
        if record.state is not UploadState.RECEIVING:
            raise UploadProblem(409, "Offset mismatch", "This upload is already complete.",
                                **{"Upload-Offset": str(record.offset)})
        room = record.length - record.offset
        if request.content_length is not None and request.content_length > room:
            raise UploadProblem(413, "Beyond the upload's length",
                                f"Only {room} more bytes belong to this upload.")
        digest, written, kept = hashlib.sha256(), 0, False
        part = await asyncio.to_thread(partial_path(self.folder, record.upload_id).open, "r+b")
        with part:
            try:
                part.seek(record.offset)
                pending = bytearray()  # socket reads are small; disk writes go in READ_SIZE
                while block := await request.content.readany():
                    written += len(block)
                    if written > room:
                        raise UploadProblem(413, "Beyond the upload's length",
                                            f"Only {room} more bytes belong to this upload.")
                    pending += block
                    if len(pending) >= READ_SIZE:
                        await asyncio.to_thread(_write_hashed, part, digest, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(_write_hashed, part, digest, bytes(pending))
                if digest.digest() != checksum:
                    raise UploadProblem(HTTP_CHECKSUM_MISMATCH, "Checksum mismatch",
                                        "The body's SHA-256 differs from Upload-Checksum.")
                self._authenticate(request, digest.hexdigest())
                part.flush()
                await asyncio.to_thread(os.fsync, part.fileno())
                kept = True
            finally:
                if not kept:  # also on a dropped connection: nothing unchecked stays
                    part.truncate(record.offset)
        new_offset = record.offset + written
        self._db.execute('UPDATE uploads SET "offset" = ? WHERE upload_id = ?',
                     (new_offset, record.upload_id))
        return new_offset

    async def _finish(self, record: UploadRecord) -> None:
        """Mark a fully received upload complete, then verify it against its manifest."""
        part = partial_path(self.folder, record.upload_id)
        if part.exists():
            os.replace(part, package_path(self.folder, record.upload_id))
        self._db.execute("UPDATE uploads SET state = ? WHERE upload_id = ? AND state = ?",
                     (UploadState.COMPLETE.value, record.upload_id,
                      UploadState.RECEIVING.value))
        try:
            await asyncio.to_thread(verify_upload, self.db_path, self.folder, self.keys,
                                    record.upload_id, self.gateway_key)
        except VerificationError:
            pass  # recorded as rejected; the receipt route reports the reason

    def _stored_request_target(self, request_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The gateway and cameras a stored footage request was addressed to."""
        row = self._db.execute(
            "SELECT gateway_id, registration_ids FROM footage_requests WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else (row[0], tuple(json.loads(row[1])))


def _write_hashed(part: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    """Hash and write one block (off the event loop; both release the GIL)."""
    digest.update(data)
    part.write(data)


def _require_tus(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise UploadProblem(412, "Unsupported protocol version",
                            "Send Tus-Resumable: 1.0.0.", **{"Tus-Version": TUS_VERSION})


async def _small_body(request: web.Request) -> bytes:
    too_long = UploadProblem(413, "Manifest too large", "A manifest is at most 64 KiB.")
    if (request.content_length or 0) > MAX_MANIFEST_BYTES:
        raise too_long
    body = await request.content.read(MAX_MANIFEST_BYTES + 1)
    while len(body) <= MAX_MANIFEST_BYTES and not request.content.at_eof():
        more = await request.content.read(MAX_MANIFEST_BYTES + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > MAX_MANIFEST_BYTES:
        raise too_long
    return body


def _int_header(request: web.Request, name: str) -> int:
    text = request.headers.get(name, "")
    if not text.isascii() or not text.isdigit():
        raise UploadProblem(400, f"Missing {name}", f"{name} must be a non-negative integer.")
    return int(text)


def _checksum_header(request: web.Request) -> bytes:
    algorithm, _, value = request.headers.get("Upload-Checksum", "").partition(" ")
    if algorithm != "sha256":
        raise UploadProblem(400, "Unsupported checksum", "Send Upload-Checksum: sha256 <base64>.")
    try:
        checksum = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise UploadProblem(400, "Bad checksum", "Upload-Checksum is not valid base64.") from err
    if len(checksum) != 32:
        raise UploadProblem(400, "Bad checksum", "A SHA-256 checksum has 32 bytes.")
    return checksum
