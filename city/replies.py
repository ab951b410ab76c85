"""Optional decline replies: a resident may tell the city why they declined (private otherwise)."""

from __future__ import annotations

from aiohttp import web

from protocol.messages import DeclineReply
from protocol.signing import Domain, SignedEnvelope, verify
from protocol.timeutil import utcnow

from .auth import GATEWAY_ID
from .errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableError,
)
from .problems import json_body
from .store import CityStore


class ReplyService:
    """`POST /v1/requests/{request_id}/reply` with a gateway-signed DeclineReply."""

    def __init__(self, store: CityStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/requests/{request_id}/reply", self.reply)]

    async def reply(self, request: web.Request) -> web.Response:
        gateway_id = request[GATEWAY_ID]
        request_id = request.match_info["request_id"]
        envelope = SignedEnvelope.from_json(json_body(request))
        public_key = self._store.gateway_key(gateway_id)
        if public_key is None:
            raise UnauthorizedError("unknown gateway")
        reply = DeclineReply.from_json(verify(envelope, public_key, Domain.DECLINE_REPLY))
        if reply.gateway_id != gateway_id:
            raise ForbiddenError("a gateway can only reply for itself")
        if reply.request_id != request_id:
            raise UnprocessableError("the reply names a different request than the URL")
        target = self._store.request_target(request_id)
        # Another gateway's request answers 404 too: its existence is not this gateway's business.
        if target is None or target[0] != gateway_id:
            raise NotFoundError("this gateway received no request with that id")
        unknown = set(reply.registration_ids) - set(target[1])
        if unknown:
            raise UnprocessableError(
                "the reply names cameras the request did not ask for: " + ", ".join(sorted(unknown))
            )
        recorded = self._store.add_decline_reply(
            request_id, gateway_id, reply.registration_ids, reply.reply, reply.sent_at, utcnow(),
            envelope.to_json(),
        )  # fmt: skip
        if not recorded:
            raise ConflictError("a reply to this request was already recorded")
        return web.json_response({"request_id": request_id, "recorded": True}, status=201)
