"""Who is calling: gateways sign each HTTP request, operators carry the admin bearer token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.errors import SignatureError
from protocol.httpauth import verify_http_request

from .errors import UnauthorizedError
from .problems import BODY, Handler, read_body

PUBLIC_ROUTES: Final = frozenset({("POST", "/v1/enroll"), ("GET", "/v1/transparency")})
GATEWAY_ID: Final = web.RequestKey("gateway_id", str)
ADMIN_PREFIX: Final = "/v1/admin/"
# Upload bodies are large and streamed; city.uploads authenticates them while writing.
SELF_AUTHENTICATED_PREFIX: Final = "/v1/uploads"


class Caller(StrEnum):
    PUBLIC = "public"
    ADMIN = "admin"
    GATEWAY = "gateway"
    UPLOAD = "upload"


def caller_for(method: str, path: str) -> Caller:
    """Which kind of credential a route needs."""
    if (method, path) in PUBLIC_ROUTES:
        return Caller.PUBLIC
    if path.startswith(ADMIN_PREFIX):
        return Caller.ADMIN
    if path == SELF_AUTHENTICATED_PREFIX or path.startswith(SELF_AUTHENTICATED_PREFIX + "/"):
        return Caller.UPLOAD
    return Caller.GATEWAY


class AuthMiddleware:
    """Reads the (bounded) body once, then checks the credential the route needs."""

    def __init__(
        self, admin_token: str, gateway_key: Callable[[str], Ed25519PublicKey | None]
    ) -> None:
        self._admin_token = admin_token.encode("utf-8")
        self._gateway_key = gateway_key

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.handle(request, handler)

        return authenticate

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        http_error = request.match_info.http_exception
        if http_error is not None:
            raise http_error
        caller = caller_for(request.method, request.path)
        if caller is Caller.UPLOAD:
            return await handler(request)
        body = await read_body(request)
        request[BODY] = body
        if caller is Caller.ADMIN:
            self._check_admin(request)
        elif caller is Caller.GATEWAY:
            request[GATEWAY_ID] = self._check_gateway(request, body)
        return await handler(request)

    def _check_admin(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode("utf-8"), self._admin_token
        ):
            raise UnauthorizedError("this route needs the city's admin token (Bearer)")

    def _check_gateway(self, request: web.Request, body: bytes) -> str:
        try:
            return verify_http_request(
                request.headers,
                request.method,
                request.path_qs,
                hashlib.sha256(body).hexdigest(),
                self._gateway_key,
            )
        except SignatureError as err:
            raise UnauthorizedError(f"gateway signature rejected: {err}") from err
