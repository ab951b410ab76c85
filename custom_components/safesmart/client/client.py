"""Async client for the SafeSmart gateway's local API, in the style of python-elgato."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
from yarl import URL

from .exceptions import (
    SafeSmartAuthenticationError,
    SafeSmartConflictError,
    SafeSmartConnectionError,
    SafeSmartError,
    SafeSmartInvalidInputError,
    SafeSmartNotFoundError,
    SafeSmartResponseError,
)
from .models import Camera, Health, Request, RequestState, StreamEvent
from .sse import iter_sse

API_PATH = "/api/v1"
# The gateway sends ": keepalive" every 15 s; silence for longer means the link is dead.
STREAM_IDLE_TIMEOUT = 45.0

_STATUS_ERRORS: dict[int, type[SafeSmartError]] = {
    401: SafeSmartAuthenticationError,
    403: SafeSmartAuthenticationError,
    404: SafeSmartNotFoundError,
    409: SafeSmartConflictError,
    422: SafeSmartInvalidInputError,
}


@dataclass
class SafeSmartClient:
    """Typed client of one gateway; pass Home Assistant's shared aiohttp session."""

    url: str
    token: str
    session: aiohttp.ClientSession | None = None
    request_timeout: float = 10.0
    _close_session: bool = field(default=False, init=False, repr=False)

    def _url(self, path: str) -> URL:
        return URL(self.url.rstrip("/") + API_PATH + path)

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._close_session = True
        return self.session

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> bytes:
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self._session().request(
                    method, self._url(path), headers=self._headers, json=body, params=params
                )
                content = await response.read()
        except TimeoutError as err:
            raise SafeSmartConnectionError("The gateway did not answer in time") from err
        except aiohttp.ClientError as err:
            raise SafeSmartConnectionError(f"Cannot reach the gateway: {err}") from err
        if response.status >= 400:
            raise _status_error(response.status, content)
        return content

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        content = await self._request(method, path, **kwargs)
        try:
            return json.loads(content)
        except ValueError as err:
            raise SafeSmartResponseError("The gateway sent a response that is not JSON") from err

    async def health(self) -> Health:
        """Return the gateway's health, identity and city connection."""
        return Health.from_json(await self._json("GET", "/health"))

    async def requests(self, state: RequestState | None = None) -> list[Request]:
        """Return footage requests, newest first, optionally only those in one state."""
        params = None if state is None else {"state": state.value}
        data = await self._json("GET", "/requests", params=params)
        return [Request.from_json(item) for item in _list(data, "requests")]

    async def request(self, request_id: str) -> Request:
        """Return one footage request."""
        return Request.from_json(await self._json("GET", f"/requests/{request_id}"))

    async def approve(
        self,
        request_id: str,
        *,
        cameras: Sequence[str] | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> Request:
        """Approve a pending request, optionally only some cameras or a narrower window."""
        body: dict[str, Any] = {}
        if cameras is not None:
            body["cameras"] = list(cameras)
        if window is not None:
            body["window"] = {"start": window[0].isoformat(), "end": window[1].isoformat()}
        data = await self._json("POST", f"/requests/{request_id}/approve", body=body)
        return Request.from_json(data)

    async def decline(
        self, request_id: str, *, cameras: Sequence[str] | None = None, reply: str | None = None
    ) -> Request:
        """Decline a pending request; a reply is sent to the city only when given."""
        body: dict[str, Any] = {}
        if cameras is not None:
            body["cameras"] = list(cameras)
        if reply is not None:
            body["reply"] = reply
        data = await self._json("POST", f"/requests/{request_id}/decline", body=body)
        return Request.from_json(data)

    async def preview(self, request_id: str) -> bytes:
        """Return the PNG contact sheet of a request's redacted frames."""
        content = await self._request("GET", f"/requests/{request_id}/preview")
        if not content.startswith(b"\x89PNG\r\n\x1a\n"):
            raise SafeSmartResponseError("The gateway sent a preview that is not a PNG image")
        return content

    async def cameras(self) -> list[Camera]:
        """Return the cameras registered with the city."""
        data = await self._json("GET", "/cameras")
        return [Camera.from_json(item) for item in _list(data, "cameras")]

    async def set_privacy_mode(self, enabled: bool) -> bool:
        """Turn privacy mode (every request auto-declined) on or off; return the new mode."""
        data = await self._json("PUT", "/privacy-mode", body={"enabled": enabled})
        if not isinstance(data, dict) or not isinstance(data.get("privacy_mode"), bool):
            raise SafeSmartResponseError("The gateway sent an invalid privacy mode answer")
        return bool(data["privacy_mode"])

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Yield stream events, first a `connected` marker; raise on connection trouble.

        The marker lets a caller refresh its state once the stream is open, so nothing falls
        into the gap between a snapshot and the stream.
        """
        headers = {**self._headers, "Accept": "text/event-stream"}
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self._session().get(self._url("/events"), headers=headers)
        except TimeoutError as err:
            raise SafeSmartConnectionError("The gateway did not answer in time") from err
        except aiohttp.ClientError as err:
            raise SafeSmartConnectionError(f"Cannot reach the gateway: {err}") from err
        try:
            if response.status >= 400:
                raise _status_error(response.status, await response.read())
            yield StreamEvent(connected=True)
            async for name, data in iter_sse(response.content, STREAM_IDLE_TIMEOUT):
                event = _stream_event(name, data)
                if event is not None:
                    yield event
        except TimeoutError as err:
            raise SafeSmartConnectionError("The gateway's event stream went silent") from err
        except aiohttp.ClientError as err:
            raise SafeSmartConnectionError(f"The event stream broke: {err}") from err
        finally:
            # Close, not release: a half-read stream must not go back to the shared pool.
            response.close()

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self.session is not None and self._close_session:
            await self.session.close()

    async def __aenter__(self) -> Self:
        """Enter the async context."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client's own session on exit."""
        await self.close()


def _list(data: object, key: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SafeSmartResponseError(f"The gateway sent an invalid {key} list")
    return list(data[key])


def _status_error(status: int, content: bytes) -> SafeSmartError:
    """Turn an RFC 9457 problem response into the matching client error."""
    detail = ""
    try:
        problem = json.loads(content)
        if isinstance(problem, dict):
            detail = str(problem.get("detail") or problem.get("title") or "")
    except ValueError:
        pass
    kind = _STATUS_ERRORS.get(status, SafeSmartConnectionError if status >= 500 else SafeSmartError)
    return kind(detail or f"The gateway answered HTTP {status}")


def _stream_event(name: str, data: str) -> StreamEvent | None:
    """Parse one SSE event; unknown event names are skipped for forward compatibility."""
    if name not in ("request", "health"):
        return None
    try:
        payload = json.loads(data)
    except ValueError as err:
        raise SafeSmartResponseError(f"The gateway sent an invalid {name} event") from err
    if name == "request":
        return StreamEvent(request=Request.from_json(payload))
    return StreamEvent(health=Health.from_json(payload))
