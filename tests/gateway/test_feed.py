"""The feed loop against a real (test) city on loopback: verification first, rules, backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditKind, AuditLog
from gateway.cityclient import CityClient
from gateway.feed import Backoff, FeedLoop, RequestIntake
from gateway.inbox import Inbox, InboxRequest, RequestState
from gateway.verification import Caps, ReplayGuard
from protocol.geo import GeoPoint
from protocol.messages import FootageRequest, Incident, IncidentType
from protocol.signing import Domain, sign
from protocol.timeutil import TimeWindow, utcnow

from .city_double import CITY_ID, CityDouble
from .service_harness import CityServer, Gateway, city, gateway
from .trust_factories import make_request

__all__ = ["city", "gateway"]
INCIDENT = GeoPoint(41.4994, -81.6944)


def fresh_request(gw: Gateway, **changes: Any) -> FootageRequest:
    """A valid request issued now, for both of the gateway's cameras."""
    now = utcnow()
    base = make_request(
        city_id=CITY_ID,
        issued_at=now - timedelta(seconds=5),
        window=TimeWindow(now - timedelta(hours=2), now - timedelta(hours=1, minutes=30)),
        respond_by=now + timedelta(days=1),
        registration_ids=tuple(gw.registration_ids),
        incident=Incident(IncidentType.BURGLARY, "Rear door forced", INCIDENT, 300.0),
    )
    return replace(base, **changes)


def envelope(key: Ed25519PrivateKey, request: FootageRequest) -> dict[str, Any]:
    return sign(key, Domain.FOOTAGE_REQUEST, request.to_json()).to_json()


@dataclass
class Parts:
    inbox: Inbox
    audit: AuditLog
    intake: RequestIntake
    changes: list[InboxRequest] = field(default_factory=list)


def build_intake(gw: Gateway) -> Parts:
    inbox, audit = Inbox(gw.layout.db), AuditLog(gw.layout.db, gw.key)
    changes: list[InboxRequest] = []
    intake = RequestIntake(
        store=gw.store, inbox=inbox, audit=audit, replay=ReplayGuard(gw.layout.db),
        rules_path=gw.layout.rules, on_change=changes.append,
    )
    return Parts(inbox, audit, intake, changes)


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    calls: list[int] = field(default_factory=list)

    def delay(self, attempt: int, rng: Any = None) -> float:
        self.calls.append(attempt)
        return super().delay(attempt, rng)


async def wait_for(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def rejections(audit: AuditLog) -> list[str]:
    return [e.data["reason"] for e in audit.entries() if e.kind is AuditKind.REQUEST_REJECTED]


async def test_a_signed_request_reaches_the_inbox(city: CityServer, gateway: Gateway) -> None:
    parts = build_intake(gateway)
    connectivity: list[bool] = []
    async with CityClient(city.url, gateway_id=gateway.city.gateway_id,
                          device_key=gateway.key) as client:
        loop = FeedLoop(client=client, store=gateway.store, intake=parts.intake, wait_s=5,
                        backoff=Backoff(0.01, 0.05), on_connectivity=connectivity.append)
        stop = asyncio.Event()
        task = asyncio.ensure_future(loop.run(stop))
        await wait_for(lambda: city.double.feed_calls >= 1)
        request = fresh_request(gateway)
        await city.double.push(envelope(city.double.signing, request))
        await wait_for(lambda: bool(parts.inbox.list()))
        stop.set()
        await asyncio.wait_for(task, 5)
    item = parts.inbox.get(request.request_id)
    assert item.state is RequestState.PENDING
    distances = {c.registration_id: c.distance_m for c in item.cameras}
    front, drive = gateway.registration_ids
    assert 0 < distances[front] < distances[drive] < 800
    assert gateway.store.feed_cursor == 1
    assert connectivity == [True]
    assert [e.kind for e in parts.audit.entries(request.request_id)] == [
        AuditKind.REQUEST_RECEIVED]
    assert [c.request.request_id for c in parts.changes] == [request.request_id]


def test_the_residents_tighter_caps_apply_to_the_next_request(
    city: CityServer, gateway: Gateway
) -> None:
    parts = build_intake(gateway)
    wide = fresh_request(gateway)  # a window and radius within the protocol's caps
    gateway.store.set_caps(Caps(max_window=wide.window.duration / 2, max_radius_m=800))
    assert parts.intake.accept(envelope(city.double.signing, wide)) is None
    assert rejections(parts.audit) == ["window_too_long"]
    assert parts.inbox.list() == []


async def test_connectivity_is_known_before_the_first_long_poll_ends(
    city: CityServer, gateway: Gateway
) -> None:
    parts = build_intake(gateway)
    connectivity: list[bool] = []
    async with CityClient(city.url, gateway_id=gateway.city.gateway_id,
                          device_key=gateway.key) as client:
        loop = FeedLoop(client=client, store=gateway.store, intake=parts.intake, wait_s=25,
                        backoff=Backoff(0.01, 0.05), on_connectivity=connectivity.append)
        stop = asyncio.Event()
        task = asyncio.ensure_future(loop.run(stop))
        # Well before the 25 s long-poll could end: the first poll did not wait.
        await wait_for(lambda: connectivity == [True], limit_s=5)
        assert city.double.feed_calls >= 1
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_bad_envelopes_never_reach_the_inbox(city: CityServer, gateway: Gateway) -> None:
    parts = build_intake(gateway)
    key = city.double.signing
    good = fresh_request(gateway)
    now = utcnow()
    bad: dict[str, object] = {
        "unknown_key": envelope(Ed25519PrivateKey.generate(), fresh_request(gateway)),
        "bad_signature": {**envelope(key, fresh_request(gateway)),
                          "body": fresh_request(gateway).to_json()},
        "malformed": {"domain": "footage-request", "body": {}},
        "wrong_city": envelope(key, fresh_request(gateway, city_id="elsewhere")),
        "expired": envelope(key, fresh_request(
            gateway, respond_by=now - timedelta(minutes=1))),
        "window_too_long": envelope(key, fresh_request(gateway, window=TimeWindow(
            now - timedelta(hours=14), now - timedelta(hours=1)))),
        "radius_too_large": envelope(key, fresh_request(gateway, incident=Incident(
            IncidentType.THEFT, "Parcel", INCIDENT, 900.0))),
        "not_our_camera": envelope(key, fresh_request(gateway, registration_ids=("reg-other",))),
        "replayed": envelope(key, replace(good, nonce=fresh_request(gateway).nonce)),
    }
    assert parts.intake.accept(envelope(key, good)) is not None
    for reason, data in bad.items():
        assert parts.intake.accept(data) is None, reason
    assert parts.intake.accept("not even an object") is None
    assert parts.intake.accept(json.loads(json.dumps(envelope(key, good)))) is None  # duplicate
    assert [i.request.request_id for i in parts.inbox.list()] == [good.request_id]
    reasons = rejections(parts.audit)
    assert reasons[: len(bad)] == list(bad)
    assert reasons[len(bad):] == ["malformed", "replayed"]
    assert [c.request.request_id for c in parts.changes] == [good.request_id]
    # nothing rejected is attached to the genuine request's history
    assert [e.kind for e in parts.audit.entries(good.request_id)] == [AuditKind.REQUEST_RECEIVED]


async def test_privacy_mode_declines_and_rules_approve(gateway: Gateway, city: CityServer) -> None:
    parts = build_intake(gateway)
    key = city.double.signing
    gateway.store.set_privacy_mode(True)
    declined = parts.intake.accept(envelope(key, fresh_request(gateway)))
    assert declined is not None and declined.state is RequestState.DECLINED
    assert declined.decided_by == "privacy_mode"
    gateway.store.set_privacy_mode(False)
    gateway.layout.rules.write_text(json.dumps({"version": 1, "rules": [
        {"name": "near burglaries", "action": "approve", "incident_types": ["burglary"],
         "max_distance_m": 200}]}))
    approved = parts.intake.accept(envelope(key, fresh_request(gateway)))
    assert approved is not None and approved.state is RequestState.APPROVED
    assert approved.decided_by == "rule:near burglaries"
    states = {c.registration_id: c.state.value for c in approved.cameras}
    front, drive = gateway.registration_ids
    assert states == {front: "approved", drive: "declined"}
    kinds = [e.kind for e in parts.audit.entries(approved.request.request_id)]
    assert kinds == [AuditKind.REQUEST_RECEIVED, AuditKind.RULE_MATCHED,
                     AuditKind.REQUEST_DECIDED]


async def test_broken_rules_file_asks_the_resident(gateway: Gateway, city: CityServer) -> None:
    parts = build_intake(gateway)
    gateway.layout.rules.write_text('{"version": 1, "rules": [{"name": "x", "action": "yes"}]}')
    item = parts.intake.accept(envelope(city.double.signing, fresh_request(gateway)))
    assert item is not None and item.state is RequestState.PENDING and item.decided_by is None


async def test_backoff_while_the_city_is_down_then_recovery(
    city: CityServer, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.feed")
    parts = build_intake(gateway)
    port = city.server.port
    backoff = CountingBackoff(0.01, 0.05)
    connectivity: list[bool] = []
    pinned = gateway.city
    async with CityClient(pinned.url, gateway_id=pinned.gateway_id,
                          device_key=gateway.key) as client:
        loop = FeedLoop(client=client, store=gateway.store, intake=parts.intake, wait_s=1,
                        backoff=backoff, on_connectivity=connectivity.append)
        stop = asyncio.Event()
        task = asyncio.ensure_future(loop.run(stop))
        await wait_for(lambda: connectivity == [True])
        await city.server.close()                       # the city goes down
        await wait_for(lambda: len(backoff.calls) >= 5)
        assert connectivity == [True, False]
        assert backoff.calls[:3] == [1, 2, 3]
        double: CityDouble = city.double
        revived = TestServer(double.app(), host="127.0.0.1", port=port)
        await revived.start_server()                    # and comes back on the same port
        try:
            request = fresh_request(gateway)
            await double.push(envelope(double.signing, request))
            await wait_for(lambda: bool(parts.inbox.list()))
            assert connectivity == [True, False, True]
            assert loop.connected and loop.last_contact is not None
            stop.set()
            await asyncio.wait_for(task, 5)
        finally:
            await revived.close()
    lost = [r for r in caplog.records if "lost contact" in r.getMessage()]
    back = [r for r in caplog.records if "connected to the city" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 2


def test_backoff_is_bounded_and_jittered() -> None:
    import random

    rng = random.Random(7)  # noqa: S311 - reproducible jitter
    backoff = Backoff(1.0, 60.0)
    delays = [backoff.delay(n, rng) for n in range(1, 40)]
    assert all(0 <= d <= 60.0 for d in delays)
    assert len({round(d, 6) for d in delays}) == len(delays)
    seeded = [random.Random(s) for s in range(200)]  # noqa: S311 - reproducible jitter
    assert max(backoff.delay(3, rng) for rng in seeded) <= 8.0
