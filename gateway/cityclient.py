"""The outbound HTTP client toward the city; every call but enrollment is signed (device key)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.httpauth import sign_http_request
from protocol.signing import SignedEnvelope

from .config import GatewayError

MAX_FEED_WAIT_S = 30


class CityError(GatewayError):
    """The city could not be reached or refused a call."""


class CityUnreachableError(CityError):
    """No answer from the city (down, network, timeout); worth retrying later."""


class CityRejectedError(CityError):
    """The city answered with an error (its problem document's detail is the message)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the city refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class FeedPage:
    """One answer of the long-poll feed: raw envelopes (not yet verified) and the next cursor."""

    requests: tuple[object, ...]
    cursor: int


class CityClient:
    """Calls the city at `base_url`; inject `session` to share a connection pool."""

    def __init__(
        self,
        base_url: str,
        *,
        gateway_id: str | None = None,
        device_key: Ed25519PrivateKey | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CityError(f"the city address {base_url!r} must start with https:// (or http://)")
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.gateway_id = gateway_id
        self._device_key = device_key
        self._session = session
        self._own_session = session is None
        self._timeout_s = timeout_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(
        self, method: str, path_qs: str, body: Any = None, *, signed: bool = True,
        timeout_s: float | None = None,
    ) -> Any:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if signed:
            if self._device_key is None or self.gateway_id is None:
                raise CityError("this gateway is not enrolled with a city yet")
            headers.update(sign_http_request(
                self._device_key, self.gateway_id, method, self._prefix + path_qs,
                hashlib.sha256(data).hexdigest(),
            ))
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s)
        try:
            async with self._get_session().request(
                method, self.base_url + path_qs, data=data or None, headers=headers,
                timeout=timeout, allow_redirects=False,
            ) as response:
                payload = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise CityUnreachableError(
                f"the city at {self.base_url} cannot be reached ({type(err).__name__})"
            ) from err
        if status >= 500:
            raise CityUnreachableError(f"the city at {self.base_url} answered {status}")
        if status >= 400:
            raise CityRejectedError(status, _problem_detail(payload))
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError as err:
            raise CityRejectedError(status, "the answer was not JSON") from err

    async def enroll(self, enrollment_request: dict[str, Any]) -> object:
        """POST /v1/enroll (public); returns the raw grant envelope for the caller to verify."""
        return await self._call("POST", "/v1/enroll", enrollment_request, signed=False)

    async def register_camera(self, registration: SignedEnvelope) -> str:
        answer = await self._call("POST", "/v1/cameras", registration.to_json())
        rid = answer.get("registration_id") if isinstance(answer, dict) else None
        if not isinstance(rid, str) or not rid:
            raise CityRejectedError(200, "the city did not return a registration id")
        return rid

    async def update_camera(self, registration_id: str, registration: SignedEnvelope) -> None:
        await self._call("PUT", f"/v1/cameras/{registration_id}", registration.to_json())

    async def withdraw_camera(self, registration_id: str) -> None:
        await self._call("DELETE", f"/v1/cameras/{registration_id}")

    async def feed(self, cursor: int, wait_s: int) -> FeedPage:
        """GET /v1/feed: answers at once when something is new, else after about `wait_s`."""
        wait_s = max(0, min(wait_s, MAX_FEED_WAIT_S))
        answer = await self._call(
            "GET", f"/v1/feed?cursor={cursor}&wait={wait_s}", timeout_s=wait_s + 15.0
        )
        if not isinstance(answer, dict):
            raise CityRejectedError(200, "the feed answer was not a JSON object")
        requests, next_cursor = answer.get("requests"), answer.get("cursor")
        if not isinstance(requests, list) or isinstance(next_cursor, bool) \
                or not isinstance(next_cursor, int) or next_cursor < 0:
            raise CityRejectedError(200, "the feed answer lacks requests or cursor")
        return FeedPage(tuple(requests), next_cursor)

    async def send_decline_reply(self, request_id: str, reply: SignedEnvelope) -> None:
        await self._call("POST", f"/v1/requests/{request_id}/reply", reply.to_json())


def _problem_detail(payload: bytes) -> str:
    """The problem document's detail (or title); never echo arbitrary bodies at length."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return "no details given"
    if isinstance(doc, dict):
        for key in ("detail", "title"):
            if isinstance(doc.get(key), str) and doc[key]:
                return str(doc[key])[:300]
    return "no details given"
