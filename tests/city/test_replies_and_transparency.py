"""Optional decline replies and the public transparency figures."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from city.app import STORE_KEY
from city.config import CityConfig
from protocol.geo import GeoPoint
from protocol.messages import DeclineReply
from protocol.signing import Domain, sign
from protocol.timeutil import format_time, parse_time, utcnow

from .conftest import CENTRE, Client, Gateway, issue_body

type Enroll = Callable[[], Awaitable[Gateway]]


async def _issue(client: Client, admin: dict[str, str], **overrides: Any) -> list[dict[str, Any]]:
    response = await client.post("/v1/admin/requests", json=issue_body(**overrides), headers=admin)
    assert response.status == 201, await response.text()
    items: list[dict[str, Any]] = (await response.json())["requests"]
    return items


def _reply(gateway: Gateway, request_id: str, ids: list[str]) -> dict[str, Any]:
    message = DeclineReply(request_id, gateway.gateway_id, tuple(ids), "Not comfortable", utcnow())
    return sign(gateway.key, Domain.DECLINE_REPLY, message.to_json()).to_json()


async def test_decline_reply_is_recorded_once(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway, other = await enroll(), await enroll()
    camera = await gateway.register("cam", CENTRE)
    await other.register("cam", GeoPoint(CENTRE.lat + 0.001, CENTRE.lon))
    items = await _issue(client, admin)
    mine = next(i["request_id"] for i in items if i["gateway_id"] == gateway.gateway_id)
    path = f"/v1/requests/{mine}/reply"
    # Another gateway cannot reply for this request, even with its own valid signature.
    assert (await other.call("POST", path, _reply(other, mine, [camera]))).status == 404
    assert (await gateway.call("POST", path, _reply(gateway, mine, ["not-asked"]))).status == 422
    wrong_url = await gateway.call(
        "POST", "/v1/requests/other/reply", _reply(gateway, mine, [camera])
    )
    assert wrong_url.status == 422
    ok = await gateway.call("POST", path, _reply(gateway, mine, [camera]))
    assert ok.status == 201, await ok.text()
    assert (await gateway.call("POST", path, _reply(gateway, mine, [camera]))).status == 409
    figures = await (await client.get("/v1/transparency")).json()
    assert figures["declined_if_told"] == 1


async def test_transparency_figures(
    client: Client, enroll: Enroll, admin: dict[str, str], config: CityConfig
) -> None:
    alice, bob = await enroll(), await enroll()
    a1 = await alice.register("a1", CENTRE)
    await alice.register("a2", GeoPoint(CENTRE.lat + 0.2, CENTRE.lon))
    withdrawn = await bob.register("b1", CENTRE)
    assert (await bob.call("DELETE", f"/v1/cameras/{withdrawn}")).status == 200
    first = await _issue(client, admin)
    await _issue(client, admin, legal_basis="warrant", case_number="2026-9")
    await _issue(client, admin, incident={**issue_body()["incident"], "type": "theft"})
    # For the first request: a1 answers in two parts verified 60 s and 120 s after issue (one
    # answer, complete at 120 s); a2's first of two parts is verified, its second still arrives.
    assert client.app is not None
    issued_at = parse_time(
        client.app[STORE_KEY].query(
            "SELECT issued_at FROM footage_requests WHERE request_id = ?",
            (first[0]["request_id"],),
        )[0][0]
    )
    _add_uploads(config, first[0]["request_id"], a1, issued_at, [60, 120])
    _add_uploads(config, first[0]["request_id"], "a2", issued_at, [30, None])

    response = await client.get("/v1/transparency")
    assert response.status == 200
    figures = await response.json()
    assert figures == {
        "cameras_registered": 2,
        "gateways_enrolled": 2,
        "requests_issued": {
            "total": 3,
            "cases": 2,
            "by_legal_basis": {"voluntary": 2, "warrant": 1},
            "by_incident_type": {"burglary": 2, "theft": 1},
        },
        "requests_answered": 1,
        "declined_if_told": 0,
        "uploads_verified": 1,
        "median_issue_to_verified_upload_s": 120.0,
    }


def _add_uploads(
    config: CityConfig, request_id: str, registration_id: str, issued_at: Any,
    delays: list[int | None],
) -> None:  # fmt: skip
    from city.verification import connect

    with connect(config.db_path) as conn:
        for index, delay in enumerate(delays):
            verified = None if delay is None else format_time(issued_at + timedelta(seconds=delay))
            _insert_upload(conn, f"{registration_id}-u{index}", request_id, registration_id,
                           (index + 1, len(delays)), verified)


def _insert_upload(
    conn: sqlite3.Connection, upload_id: str, request_id: str, registration_id: str,
    part: tuple[int, int], verified_at: str | None,
) -> None:  # fmt: skip
    now = format_time(utcnow())
    conn.execute(
        'INSERT INTO uploads (upload_id, request_id, registration_id, part, parts, gateway_id, '
        'idempotency_key, state, length, "offset", manifest_json, manifest_sha256, created_at, '
        "expires_at, verified_at) VALUES (?, ?, ?, ?, ?, 'g', ?, ?, 1, 1, '{}', '', ?, ?, ?)",
        (upload_id, request_id, registration_id, *part, upload_id,
         "receiving" if verified_at is None else "verified", now, now, verified_at),
    )  # fmt: skip
