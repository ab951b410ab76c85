"""The local API (loopback, bearer token) and its SSE stream; see docs/openapi/gateway.yaml."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from protocol.errors import MalformedMessageError
from protocol.timeutil import TimeWindow

from .config import API_PREFIX
from .events import EventBus
from .inbox import (
    Inbox,
    InboxRequest,
    InvalidDecisionError,
    InvalidTransitionError,
    RequestNotFoundError,
    RequestState,
)
from .keys import token_matches

_LOGGER = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024
_PROBLEM_TYPES = {400: "bad-request", 401: "unauthorized", 404: "not-found", 405: "not-allowed",
                  409: "conflict", 413: "too-large", 422: "invalid", 500: "internal"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GatewayControl(Protocol):
    """What the API needs from the running service."""

    inbox: Inbox
    events: EventBus
    keepalive_s: float

    def api_token(self) -> str: ...
    def health(self) -> dict[str, Any]: ...
    def cameras_json(self) -> list[dict[str, Any]]: ...
    def set_privacy_mode(self, enabled: bool) -> bool: ...
    def preview_path(self, request_id: str) -> Path | None: ...
    def mark_shown(self, request_id: str) -> None: ...
    async def approve(
        self, request_id: str, cameras: list[str] | None, window: TimeWindow | None
    ) -> InboxRequest: ...
    async def decline(
        self, request_id: str, cameras: list[str] | None, reply: str | None
    ) -> InboxRequest: ...
    async def retry(self, request_id: str, cameras: list[str] | None) -> InboxRequest: ...


class ApiProblem(Exception):
    """An RFC 9457 problem answer."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def problem_response(status: int, title: str, detail: str) -> web.Response:
    body = {"type": f"https://safesmart.invalid/problems/{_PROBLEM_TYPES.get(status, 'error')}",
            "title": title, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.Response(status=status, text=json.dumps(body),
                        content_type="application/problem+json", headers=headers)


def create_api(control: GatewayControl) -> web.Application:
    """The aiohttp application serving the local API under /api/v1."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token_matches(control.api_token(), token.strip()):
            return problem_response(401, "Unauthorized",
                                    "send the gateway's API token as `Authorization: Bearer ...`")
        try:
            return await handler(request)
        except ApiProblem as err:
            return problem_response(err.status, err.title, err.detail)
        except RequestNotFoundError:
            return problem_response(404, "Not found", "no request with this id")
        except InvalidTransitionError as err:
            return problem_response(409, "Already decided", str(err))
        except InvalidDecisionError as err:
            return problem_response(422, "Invalid decision", str(err))
        except web.HTTPException as err:
            return problem_response(err.status, err.reason, err.text or err.reason)

    async def health(request: web.Request) -> web.Response:
        return web.json_response(control.health())

    async def list_requests(request: web.Request) -> web.Response:
        state_text = request.query.get("state")
        state = None
        if state_text is not None:
            try:
                state = RequestState(state_text)
            except ValueError:
                raise ApiProblem(422, "Invalid state", f"unknown state {state_text!r}") from None
        items = control.inbox.list(state)
        return web.json_response({"requests": [i.to_api_json() for i in items]})

    async def get_request(request: web.Request) -> web.Response:
        item = control.inbox.get(request.match_info["id"])
        control.mark_shown(item.request.request_id)
        return web.json_response(item.to_api_json())

    async def approve(request: web.Request) -> web.Response:
        body = await _json_body(request, {"cameras", "window"})
        window = None
        if body.get("window") is not None:
            try:
                window = TimeWindow.from_json(body["window"])
            except MalformedMessageError as err:
                raise ApiProblem(422, "Invalid window", str(err)) from err
        item = await control.approve(request.match_info["id"], _cameras(body), window)
        return web.json_response(item.to_api_json())

    async def decline(request: web.Request) -> web.Response:
        body = await _json_body(request, {"cameras", "reply"})
        reply = body.get("reply")
        if reply is not None and (not isinstance(reply, str) or not reply.strip()
                                  or len(reply) > 2000):
            raise ApiProblem(422, "Invalid reply", "reply must be text of 1 to 2000 characters")
        item = await control.decline(request.match_info["id"], _cameras(body), reply)
        return web.json_response(item.to_api_json())

    async def retry(request: web.Request) -> web.Response:
        body = await _json_body(request, {"cameras"})
        try:
            item = await control.retry(request.match_info["id"], _cameras(body))
        except InvalidTransitionError as err:
            raise ApiProblem(409, "Nothing to retry", str(err)) from err
        return web.json_response(item.to_api_json())

    async def preview(request: web.Request) -> web.StreamResponse:
        request_id = request.match_info["id"]
        control.inbox.get(request_id)  # 404 for an unknown request
        path = control.preview_path(request_id)
        if path is None or not path.exists():
            raise ApiProblem(404, "No preview yet", "the preview is not ready (see preview.status)")
        return web.Response(body=path.read_bytes(), content_type="image/png",
                            headers={"Cache-Control": "no-store"})

    async def cameras(request: web.Request) -> web.Response:
        return web.json_response({"cameras": control.cameras_json()})

    async def privacy_mode(request: web.Request) -> web.Response:
        body = await _json_body(request, {"enabled"})
        if not isinstance(body.get("enabled"), bool):
            raise ApiProblem(422, "Invalid body", 'send {"enabled": true} or {"enabled": false}')
        return web.json_response({"privacy_mode": control.set_privacy_mode(body["enabled"])})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        })
        await response.prepare(request)
        async with control.events.subscribe() as sub:
            await response.write(b": connected\n\n")
            while not sub.closed.is_set():
                closed = asyncio.ensure_future(sub.closed.wait())
                nxt = asyncio.ensure_future(sub.next(control.keepalive_s))
                try:
                    done, _ = await asyncio.wait({closed, nxt},
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    closed.cancel()
                if nxt not in done:
                    nxt.cancel()
                    break
                event = nxt.result()
                try:
                    await response.write(event.to_sse() if event else b": keepalive\n\n")
                except (ConnectionResetError, RuntimeError):
                    break
        return response

    app = web.Application(middlewares=[guard], client_max_size=_MAX_BODY)
    p = API_PREFIX
    app.add_routes([
        web.get(f"{p}/health", health),
        web.get(f"{p}/requests", list_requests),
        web.get(f"{p}/requests/{{id}}", get_request),
        web.post(f"{p}/requests/{{id}}/approve", approve),
        web.post(f"{p}/requests/{{id}}/decline", decline),
        web.post(f"{p}/requests/{{id}}/retry", retry),
        web.get(f"{p}/requests/{{id}}/preview", preview),
        web.get(f"{p}/cameras", cameras),
        web.put(f"{p}/privacy-mode", privacy_mode),
        web.get(f"{p}/events", events),
    ])
    return app


async def _json_body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """The JSON object body (an empty body is {}); unknown fields are refused."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiProblem(400, "Not JSON", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiProblem(400, "Not a JSON object", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ApiProblem(422, "Unknown fields", f"unknown fields: {', '.join(sorted(unknown))}")
    return body


def _cameras(body: dict[str, Any]) -> list[str] | None:
    cameras = body.get("cameras")
    if cameras is None:
        return None
    if not isinstance(cameras, list) or not cameras or not all(
        isinstance(c, str) and c for c in cameras
    ):
        raise ApiProblem(422, "Invalid cameras", "cameras must be a non-empty list of ids")
    return cameras
