"""RFC 9457 problem documents for every failure, and bounded reading of JSON bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from protocol.errors import MalformedMessageError, ProtocolError, SignatureError

from .errors import BadRequestError, CityError, PayloadTooLargeError

_LOG = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "https://safesmart.example/problems/"
MAX_JSON_BODY: Final = 64 * 1024
BODY: Final = web.RequestKey("body", bytes)

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(status: int, title: str, detail: str) -> web.Response:
    """A problem document response (`type`, `title`, `status`, `detail`)."""
    slug = title.lower().replace(" ", "-")
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE, charset=None
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error, ours or aiohttp's, into a problem document."""
    try:
        return await handler(request)
    except CityError as err:
        return problem(err.status, err.title, str(err))
    except SignatureError as err:
        return problem(401, "Not authenticated", str(err))
    except MalformedMessageError as err:
        return problem(400, "Malformed request", str(err))
    except ProtocolError as err:
        return problem(400, "Malformed request", str(err))
    except web.HTTPException as err:
        if err.status < 400:
            raise
        if err.content_type == PROBLEM_CONTENT_TYPE:
            raise
        response = problem(err.status, err.reason, err.text or err.reason)
        if "Allow" in err.headers:  # 405 names the methods that would work
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except Exception:
        # The detail stays generic: exception text may carry paths or secrets.
        _LOG.exception("unhandled error in %s %s", request.method, request.path)
        return problem(500, "Internal error", "the city endpoint failed; see its log")


async def read_body(request: web.Request, limit: int = MAX_JSON_BODY) -> bytes:
    """Read the whole body, refusing (413) anything over `limit` before buffering it."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the body is {request.content_length} bytes; limit {limit}")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> object:
    """Decode a JSON body; anything else is a 400 problem."""
    if not body:
        raise BadRequestError("the request needs a JSON body")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequestError(f"the body is not valid JSON: {err}") from err


def json_body(request: web.Request) -> object:
    """The JSON body that the auth middleware already read (bounded) for this request."""
    body = request.get(BODY)
    if not body:
        raise BadRequestError("the request needs a JSON body")
    return parse_json(body)
