"""The tus-style client: signed create, HEAD, PATCH and receipt calls toward the city."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from yarl import URL

from protocol.custody import Acknowledgement, Manifest
from protocol.errors import ProtocolError
from protocol.httpauth import EMPTY_BODY_SHA256, sign_http_request
from protocol.signing import Domain, SignedEnvelope, verify

TUS_VERSION = "1.0.0"


class UploadError(Exception):
    """The city refused the upload for good; the message says why."""


class RetryableError(Exception):
    """The city could not be reached or had a temporary problem; try again later."""


class LocationLostError(RetryableError):
    """The city no longer knows the upload (expired or terminated); create it again."""


@dataclass(frozen=True)
class TusClient:
    """One gateway's signed calls to the city's upload routes (docs/protocol-uploads.md)."""

    city_url: URL
    gateway_id: str
    device_key: Ed25519PrivateKey
    city_signing_key: Ed25519PublicKey
    patch_size: int

    async def create(self, session: aiohttp.ClientSession, upload_key: str,
                     manifest_json: str, total: int) -> tuple[str, int]:
        """Create (or, with the same key, find again) the upload: its Location and offset."""
        status, headers, payload = await self._send(
            session, "POST", self.city_url / "v1/uploads", manifest_json.encode(),
            {"Content-Type": "application/json", "Upload-Length": str(total),
             "Idempotency-Key": upload_key},
        )
        if status not in (200, 201) or "Location" not in headers:
            raise UploadError(f"The city refused the upload: {_detail(status, payload)}")
        return headers["Location"], int(headers.get("Upload-Offset", "0"))

    async def head(self, session: aiohttp.ClientSession, location: str) -> int:
        """How many bytes the city holds; LocationLostError when it no longer knows them."""
        url = self.city_url.join(URL(location))
        status, headers, payload = await self._send(session, "HEAD", url)
        if status in (404, 410):
            raise LocationLostError("The city no longer holds this upload; starting it again.")
        if status != 200:
            raise UploadError(f"The city refused the upload: {_detail(status, payload)}")
        return int(headers["Upload-Offset"])

    async def patch(self, session: aiohttp.ClientSession, location: str, package: Path,
                    offset: int) -> int:
        """Send the next byte range of the spool file; returns the city's new offset."""
        try:
            chunk, digest = await asyncio.to_thread(
                _read_range, package, offset, self.patch_size)
        except OSError as err:
            raise UploadError("The sealed clip is missing from the spool; approve again.") from err
        checksum = base64.b64encode(digest).decode()
        status, headers, payload = await self._send(
            session, "PATCH", self.city_url.join(URL(location)), chunk,
            {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset),
             "Upload-Checksum": f"sha256 {checksum}"},
            body_digest=digest,
        )
        if status == 204:
            return int(headers["Upload-Offset"])
        if status == 409:  # the city is elsewhere (an earlier PATCH landed): ask where
            return await self.head(session, location)
        if status in (404, 410):
            raise LocationLostError("The city no longer holds this upload; starting it again.")
        if status == 460:
            raise RetryableError("The city received a corrupted chunk; sending it again.")
        raise UploadError(f"The city refused a chunk: {_detail(status, payload)}")

    async def receipt(self, session: aiohttp.ClientSession, location: str, upload_key: str,
                      manifest_json: str) -> dict[str, Any] | None:
        """The verified acknowledgement, or None when the city still misses bytes."""
        status, _, payload = await self._send(
            session, "GET", self.city_url.join(URL(location + "/receipt")))
        if status == 409:
            return None
        if status != 200:
            raise UploadError(f"The city did not accept the clip: {_detail(status, payload)}")
        manifest = Manifest.from_json(json.loads(manifest_json)["body"])
        try:
            data = json.loads(payload)
            envelope = SignedEnvelope.from_json(data)
            ack = Acknowledgement.from_json(
                verify(envelope, self.city_signing_key, Domain.UPLOAD_ACKNOWLEDGEMENT))
        except (ProtocolError, ValueError) as err:
            raise UploadError(f"The city's receipt does not verify: {err}") from err
        if (ack.manifest_sha256 != upload_key
                or ack.ciphertext_sha256 != manifest.ciphertext_sha256
                or ack.request_id != manifest.request_id
                or ack.registration_id != manifest.registration_id):
            raise UploadError("The city's receipt is for a different package.")
        return dict(data)

    async def _send(self, session: aiohttp.ClientSession, method: str, url: URL,
                    body: bytes = b"", headers: dict[str, str] | None = None,
                    body_digest: bytes | None = None,
                    ) -> tuple[int, dict[str, str], bytes]:
        """One signed request; connection trouble and 5xx become RetryableError."""
        digest = body_digest or hashlib.sha256(body).digest()
        body_sha256 = digest.hex() if body else EMPTY_BODY_SHA256
        signed = sign_http_request(self.device_key, self.gateway_id, method, url.path_qs,
                                   body_sha256)
        all_headers = {"Tus-Resumable": TUS_VERSION, **signed, **(headers or {})}
        try:
            async with session.request(method, url, data=body or None,
                                       headers=all_headers) as response:
                payload = await response.read()
                status, answer = response.status, dict(response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise RetryableError(f"The city could not be reached ({type(err).__name__}).") from err
        if status >= 500:
            raise RetryableError(f"The city had a temporary problem (HTTP {status}).")
        return status, answer, payload


def _read_range(package: Path, offset: int, size: int) -> tuple[bytes, bytes]:
    """At most `size` bytes of the spool file from `offset`, and their SHA-256.

    Memory stays bounded by patch_size; run in a thread, as reading and hashing block.
    """
    with package.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read(size)
    return chunk, hashlib.sha256(chunk).digest()


def _detail(status: int, payload: bytes) -> str:
    """The city's problem detail, for the resident."""
    try:
        detail = json.loads(payload).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"{detail} (HTTP {status})" if isinstance(detail, str) else f"HTTP {status}"
