"""A small but real city server on 127.0.0.1 for the gateway's tests: it serves whatever
envelopes a test queues (valid, forged, replayed, malformed) and checks signed requests."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.errors import ProtocolError
from protocol.httpauth import verify_http_request
from protocol.registration import CityIdentity, EnrollmentGrant, EnrollmentRequest
from protocol.signing import (
    Domain,
    SignedEnvelope,
    decode_ed25519_public_key,
    encode_public_key,
    sign,
)
from protocol.timeutil import utcnow

CITY_ID = "cle"
CITY_NAME = "City of Testing"
ENROLL_CODE = "ABCD-EFGH-JKLM"


@dataclass
class CityDouble:
    """State of the test city; `feed` entries are raw envelope JSON objects, in order."""

    signing: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    encryption: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    grant_signer: Ed25519PrivateKey | None = None   # sign grants with a different key (forgery)
    gateways: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: list[object] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    feed_calls: int = 0
    changed: asyncio.Condition | None = None

    def identity(self) -> CityIdentity:
        return CityIdentity(CITY_ID, CITY_NAME, encode_public_key(self.signing.public_key()),
                            encode_public_key(self.encryption.public_key()))

    async def push(self, envelope: object) -> None:
        """Queue an envelope for the feed and wake the long-polls."""
        assert self.changed is not None
        async with self.changed:
            self.feed.append(envelope)
            self.changed.notify_all()

    def app(self) -> web.Application:
        self.changed = asyncio.Condition()
        app = web.Application()
        app.add_routes([
            web.post("/v1/enroll", self._enroll),
            web.post("/v1/cameras", self._register),
            web.delete("/v1/cameras/{rid}", self._withdraw),
            web.get("/v1/feed", self._feed),
            web.post("/v1/requests/{request_id}/reply", self._reply),
        ])
        return app

    async def _authenticate(self, request: web.Request) -> str:
        body = await request.read()
        try:
            return verify_http_request(
                request.headers, request.method, request.path_qs,
                hashlib.sha256(body).hexdigest(), self.gateways.get,
            )
        except ProtocolError as err:
            raise web.HTTPUnauthorized(text=str(err)) from err

    async def _enroll(self, request: web.Request) -> web.Response:
        data = EnrollmentRequest.from_json(await request.json())
        if data.code != ENROLL_CODE:
            return web.json_response({"title": "Forbidden", "status": 403,
                                      "detail": "the enrollment code is not valid"}, status=403)
        gateway_id = f"gw-{uuid.uuid4().hex[:12]}"
        self.gateways[gateway_id] = decode_ed25519_public_key(data.device_key)
        grant = EnrollmentGrant(gateway_id, self.identity(), utcnow())
        envelope = sign(self.grant_signer or self.signing, Domain.ENROLLMENT, grant.to_json())
        return web.json_response(envelope.to_json())

    async def _register(self, request: web.Request) -> web.Response:
        gateway_id = await self._authenticate(request)
        envelope = SignedEnvelope.from_json(await request.json())
        rid = f"reg-{uuid.uuid4().hex[:12]}"
        self.cameras[rid] = {"gateway_id": gateway_id, "body": envelope.body}
        return web.json_response({"registration_id": rid}, status=201)

    async def _withdraw(self, request: web.Request) -> web.Response:
        await self._authenticate(request)
        self.cameras.pop(request.match_info["rid"], None)
        return web.Response(status=204)

    async def _feed(self, request: web.Request) -> web.Response:
        await self._authenticate(request)
        self.feed_calls += 1
        cursor = int(request.query.get("cursor", "0"))
        wait = min(float(request.query.get("wait", "0")), 30.0)
        assert self.changed is not None
        async with self.changed:
            if len(self.feed) <= cursor and wait > 0:
                try:
                    await asyncio.wait_for(
                        self.changed.wait_for(lambda: len(self.feed) > cursor), wait)
                except TimeoutError:
                    pass
            items = self.feed[cursor:]
        return web.json_response({"requests": items, "cursor": cursor + len(items)})

    async def _reply(self, request: web.Request) -> web.Response:
        await self._authenticate(request)
        self.replies.append(await request.json())
        return web.Response(status=204)
