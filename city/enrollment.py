"""One-time enrollment codes and enrolling a gateway's device key with the city."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Final

from aiohttp import web

from protocol.errors import MalformedMessageError
from protocol.registration import EnrollmentGrant, EnrollmentRequest
from protocol.signing import Domain, decode_ed25519_public_key, sign
from protocol.timeutil import utcnow

from .errors import BadRequestError, ForbiddenError
from .keys import CityKeys
from .problems import json_body
from .store import CityStore

CODE_LIFETIME: Final = timedelta(days=7)
# RFC 4648 base32 without 0/1/8/9 look-alikes; 12 symbols carry 60 bits.
CODE_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CODE_GROUPS: Final = 3
CODE_GROUP_LEN: Final = 4


def new_code() -> str:
    """A fresh human-typable code such as `K7QD-M2XA-PLF4`."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(symbols[i : i + CODE_GROUP_LEN] for i in range(0, len(symbols), CODE_GROUP_LEN))


def code_hash(code: str) -> str:
    """How a code is stored: SHA-256 of its normalised form (case and dashes ignored)."""
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def create_code(store: CityStore, now: datetime | None = None) -> tuple[str, datetime]:
    """Create and store a one-time code; returns it with its expiry (the code is shown once)."""
    issued = now or utcnow()
    code = new_code()
    expires = issued + CODE_LIFETIME
    store.add_enrollment_code(code_hash(code), issued, expires)
    return code, expires


class EnrollmentService:
    """`POST /v1/enroll`: trade a valid code and a device key for a signed grant."""

    def __init__(self, store: CityStore, keys: CityKeys) -> None:
        self._store = store
        self._keys = keys

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/enroll", self.enroll)]

    async def enroll(self, request: web.Request) -> web.Response:
        enrollment = EnrollmentRequest.from_json(json_body(request))
        try:
            decode_ed25519_public_key(enrollment.device_key, "device_key")
        except MalformedMessageError as err:
            raise BadRequestError(str(err)) from err
        now = utcnow()
        gateway_id = self._store.redeem_code(
            code_hash(enrollment.code), now, enrollment.device_key, enrollment.label
        )
        if gateway_id is None:
            raise ForbiddenError(
                "this enrollment code is wrong, already used or expired; ask the city for a new one"
            )
        grant = EnrollmentGrant(gateway_id=gateway_id, city=self._keys.identity(), issued_at=now)
        envelope = sign(self._keys.signing, Domain.ENROLLMENT, grant.to_json())
        return web.json_response(envelope.to_json(), status=201)
