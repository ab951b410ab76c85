"""tus 1.0 on the city's side: problem answers, header parsing, bounded bodies."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import BinaryIO

from aiohttp import web

from city.problems import problem

TUS_VERSION = "1.0.0"
MAX_MANIFEST_BYTES = 64 * 1024
HTTP_CHECKSUM_MISMATCH = 460  # tus checksum extension


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


def answering_problems[R](
    handler: Callable[[R, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[R, web.Request], Awaitable[web.StreamResponse]]:
    """Answer an UploadProblem raised anywhere in `handler` with its problem document."""

    @functools.wraps(handler)
    async def answer(self: R, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except UploadProblem as problem:
            return problem.response()

    return answer


def write_hashed(part: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    """Hash and write one block (off the event loop; both release the GIL)."""
    digest.update(data)
    part.write(data)


def require_tus(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise UploadProblem(412, "Unsupported protocol version",
                            "Send Tus-Resumable: 1.0.0.", **{"Tus-Version": TUS_VERSION})


async def small_body(request: web.Request) -> bytes:
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


def int_header(request: web.Request, name: str) -> int:
    text = request.headers.get(name, "")
    if not text.isascii() or not text.isdigit():
        raise UploadProblem(400, f"Missing {name}", f"{name} must be a non-negative integer.")
    return int(text)


def checksum_header(request: web.Request) -> bytes:
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
