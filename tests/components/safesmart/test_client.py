"""The typed client alone: routes, error mapping, strict parsing and the SSE reader."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from unittest.mock import patch

import pytest

from custom_components.safesmart.client import (
    Request,
    RequestState,
    SafeSmartAuthenticationError,
    SafeSmartClient,
    SafeSmartConnectionError,
    SafeSmartError,
    SafeSmartNotFoundError,
    SafeSmartResponseError,
)
from custom_components.safesmart.client.client import _status_error

from .fake_gateway import FakeGateway, fixture

REQUEST_ID = "4f1c2b7a-9d3e-4a61-8b2f-0c5d6e7f8a90"


async def test_own_session_and_routes(gateway: FakeGateway) -> None:
    """Without an injected session the client makes and closes its own."""
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        assert (await client.health()).gateway_id == "gw-6b2f0c1d"
        assert [r.id for r in await client.requests(RequestState.PENDING)] == [REQUEST_ID]
        assert ("GET", "/api/v1/requests", None) in gateway.calls
        request = await client.request(REQUEST_ID)
        assert request.window_minutes == 30 and request.cameras[1].distance_m == 88.25
        assert await client.set_privacy_mode(True) is True
        with pytest.raises(SafeSmartNotFoundError, match="unknown request"):
            await client.request("nope")
        session = client.session
    assert session is not None and session.closed


async def test_timeout_and_unreachable(gateway: FakeGateway) -> None:
    """Slow or absent gateways raise SafeSmartConnectionError with a readable message."""
    gateway.delay_s = 0.5
    async with SafeSmartClient(gateway.url, gateway.token, request_timeout=0.05) as client:
        with pytest.raises(SafeSmartConnectionError, match="did not answer in time"):
            await client.health()
    async with SafeSmartClient("http://127.0.0.1:9", gateway.token) as client:
        with pytest.raises(SafeSmartConnectionError, match="Cannot reach"):
            await client.health()
        with pytest.raises(SafeSmartConnectionError, match="Cannot reach"):
            async for _ in client.events():
                pass


def test_status_errors() -> None:
    """Problem documents give the detail; other bodies a generic sentence."""
    assert isinstance(_status_error(401, b"{}"), SafeSmartAuthenticationError)
    assert str(_status_error(503, b"not json")) == "The gateway answered HTTP 503"
    assert isinstance(_status_error(503, b""), SafeSmartConnectionError)
    err = _status_error(418, b'{"title": "teapot"}')
    assert type(err) is SafeSmartError and str(err) == "teapot"


async def test_invalid_documents(gateway: FakeGateway) -> None:
    """Answers that break the contract raise SafeSmartResponseError."""
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        gateway.cameras = "nope"  # type: ignore[assignment]
        with pytest.raises(SafeSmartResponseError, match="cameras"):
            await client.cameras()
        with (
            patch.object(SafeSmartClient, "_request", return_value=b"<html>"),
            pytest.raises(SafeSmartResponseError, match="not JSON"),
        ):
            await client.health()
        with (
            patch.object(SafeSmartClient, "_request", return_value=b'{"privacy_mode": "yes"}'),
            pytest.raises(SafeSmartResponseError, match="privacy mode"),
        ):
            await client.set_privacy_mode(True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "sideways"}, "unknown state"),
        ({"received_at": "2026-11-21T10:00:00"}, "without time zone"),
        ({"received_at": "yesterday"}, "invalid received_at"),
        ({"respond_by": 5}, "expected a timestamp"),
        ({"window_minutes": True}, "expected a number"),
        ({"case_number": None}, "expected text"),
        ({"cameras": {}}, "cameras list"),
        ({"error": 3}, "expected text"),
        ({"officer": []}, "invalid officer"),
    ],
)
def test_request_parsing_is_strict(change: dict[str, object], message: str) -> None:
    """Each malformed field gets a clear error."""
    data = copy.deepcopy(fixture("request.json"))
    data.update(change)
    with pytest.raises(SafeSmartResponseError, match=message):
        Request.from_json(data)


def test_disclosure_booleans_are_strict() -> None:
    """A disclosure flag must be a real boolean, not a truthy string."""
    data = fixture("request.json")
    data["disclosures"]["may_become_public_record"] = "no"
    with pytest.raises(SafeSmartResponseError, match="true or false"):
        Request.from_json(data)


async def collect(client: SafeSmartClient, limit: int) -> list[object]:
    """Read up to limit events from the stream."""
    out: list[object] = []
    async for event in client.events():
        out.append(event)
        if len(out) == limit:
            break
    return out


async def test_sse_framing(gateway: FakeGateway) -> None:
    """Comments, multi-line data, CRLF, unnamed and unknown events are handled per spec."""
    lines = json.dumps(fixture("health.json"), indent=1).splitlines()
    data = "".join(f"data: {line}\n" if i % 2 else f"data:{line}\n" for i, line in enumerate(lines))
    gateway.raw_frames = [
        b": keepalive\r\n\r\n",
        b"data: unnamed message is ignored\n\n",
        b"event: future\ndata: {}\n\n",
        b"event: health\r\n",
        data.encode() + b"\n",
        b"event: ping\n\n",
    ]
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        connected, event = await collect(client, 2)
    assert connected.connected  # type: ignore[attr-defined]
    assert event.health is not None  # type: ignore[attr-defined]
    assert event.health.name == "Home gateway"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("frames", "error", "message"),
    [
        ([b"event: health\ndata: {not json\n\n"], SafeSmartResponseError, "invalid health"),
        ([b"data: " + b"x" * 600_000 + b"\n\n"], SafeSmartConnectionError, "oversized"),
        ([b"data: " + b"x" * 60_000 + b"\n"] * 20, SafeSmartConnectionError, "oversized"),
    ],
)
async def test_sse_bad_streams(
    gateway: FakeGateway, frames: list[bytes], error: type[Exception], message: str
) -> None:
    """Broken events end the stream with a clear error."""
    gateway.raw_frames = frames
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        with pytest.raises(error, match=message):
            await collect(client, 5)


async def test_sse_silence_and_refusal(gateway: FakeGateway) -> None:
    """A silent stream is a dead link; a refused one maps to the status error."""
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        with (
            patch("custom_components.safesmart.client.client.STREAM_IDLE_TIMEOUT", 0.05),
            pytest.raises(SafeSmartConnectionError, match="went silent"),
        ):
            await collect(client, 5)
        client.token = "wrong"  # noqa: S105 - a test token
        with pytest.raises(SafeSmartAuthenticationError):
            await collect(client, 5)


async def test_approve_body(gateway: FakeGateway) -> None:
    """The window is sent as RFC 3339 timestamps."""
    async with SafeSmartClient(gateway.url, gateway.token) as client:
        start = datetime.fromisoformat("2026-11-20T22:00:00+00:00")
        end = datetime.fromisoformat("2026-11-20T22:10:00+00:00")
        await client.approve(REQUEST_ID, cameras=["reg-front"], window=(start, end))
    assert gateway.calls[-1][2] == {
        "cameras": ["reg-front"],
        "window": {"start": "2026-11-20T22:00:00+00:00", "end": "2026-11-20T22:10:00+00:00"},
    }
