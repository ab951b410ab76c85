"""Resumable receipt of sealed uploads in the style of tus 1.0, streamed to disk.

The tus wire details are city/tus.py; admitting a new upload is city/admission.py; checking a
finished one and its receipt are city/verification.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import weakref
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from city.admission import RequestTarget, check_manifest, expired, reuse_or_insert
from city.keys import CityKeys
from city.tus import (
    HTTP_CHECKSUM_MISMATCH,
    TUS_VERSION,
    UploadProblem,
    answering_problems,
    checksum_header,
    int_header,
    require_tus,
    small_body,
    write_hashed,
)
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
from protocol.errors import SignatureError
from protocol.httpauth import EMPTY_BODY_SHA256, verify_http_request
from protocol.timeutil import parse_time, utcnow

__all__ = ["TUS_VERSION", "UploadProblem", "UploadReceiver"]

READ_SIZE = 1 << 20  # bounded memory per PATCH, whatever its length


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

    @answering_problems
    async def _create(self, request: web.Request) -> web.StreamResponse:
        require_tus(request)
        body = await small_body(request)
        gateway_id = self._authenticate(request, hashlib.sha256(body).hexdigest())
        return self._create_upload(request, gateway_id, body)

    @answering_problems
    async def _head(self, request: web.Request) -> web.StreamResponse:
        require_tus(request)
        record = self._own_record(request, self._authenticate(request, EMPTY_BODY_SHA256))
        self._require_open(record)
        return web.Response(status=200, headers=self._offset_headers(record))

    @answering_problems
    async def _patch(self, request: web.Request) -> web.StreamResponse:
        require_tus(request)
        if request.content_type != "application/offset+octet-stream":
            raise UploadProblem(415, "Wrong content type",
                                "PATCH bodies must be application/offset+octet-stream.")
        checksum = checksum_header(request)
        offset = int_header(request, "Upload-Offset")
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

    @answering_problems
    async def _terminate(self, request: web.Request) -> web.StreamResponse:
        require_tus(request)
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

    @answering_problems
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
        length = int_header(request, "Upload-Length")
        envelope, manifest = check_manifest(gateway_id, body, self.gateway_key,
                                            self.request_target)
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
            record, created = reuse_or_insert(self._db, gateway_id, envelope, manifest,
                                              utcnow(), self.expiry)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if created:
            partial_path(self.folder, record.upload_id).touch(mode=0o600)
        headers = self._offset_headers(record)
        headers["Location"] = f"/v1/uploads/{record.upload_id}"
        return web.Response(status=201 if created else 200, headers=headers)

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
        return expired(record, utcnow())

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
                        await asyncio.to_thread(write_hashed, part, digest, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(write_hashed, part, digest, bytes(pending))
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
