"""Verification of city footage requests: every rejection reason, its order, and replay."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.inbox import Inbox
from gateway.verification import (
    Caps,
    RejectionReason,
    ReplayGuard,
    RequestRejectedError,
    verify_footage_request,
)
from protocol.geo import GeoPoint
from protocol.messages import FootageRequest, Incident, IncidentType
from protocol.signing import Domain, sign
from protocol.timeutil import TimeWindow
from tests.gateway.trust_factories import CITY_ID, NOW, OUR_CAMERAS, make_request, signed


@pytest.fixture
def city_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


class Gateway:
    """The intake path under test: verify, then file in the inbox."""

    def __init__(self, db_path: Path, city_key: Ed25519PrivateKey) -> None:
        self.db_path = db_path
        self.city_key = city_key
        self.replay = ReplayGuard(db_path)
        self.inbox = Inbox(db_path)
        self.caps = Caps()

    def receive(self, data: object, caps: Caps | None = None) -> FootageRequest:
        request, envelope = verify_footage_request(
            data, city_key=self.city_key.public_key(), city_id=CITY_ID,
            registration_ids=set(OUR_CAMERAS), caps=caps or self.caps, replay=self.replay,
            now=NOW,
        )  # fmt: skip
        self.inbox.add(request, envelope, [(r, r, 10.0) for r in request.registration_ids], NOW)
        return request

    def replay_rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as db:
            return db.execute("SELECT * FROM replay_claims ORDER BY request_id").fetchall()


@pytest.fixture
def gateway(db_path: Path, city_key: Ed25519PrivateKey) -> Gateway:
    return Gateway(db_path, city_key)


def envelope_json(key: Ed25519PrivateKey, request: FootageRequest) -> dict[str, Any]:
    return signed(key, request)[1].to_json()


def test_valid_request_is_accepted(gateway: Gateway) -> None:
    request = make_request()
    accepted = gateway.receive(envelope_json(gateway.city_key, request))
    assert accepted == request
    assert [item.request for item in gateway.inbox.list()] == [request]
    assert len(gateway.replay_rows()) == 1


def test_raw_bytes_and_text_are_accepted(gateway: Gateway) -> None:
    first = signed(gateway.city_key, make_request())[1].to_json()
    second = signed(gateway.city_key, make_request())[1].to_json()
    gateway.receive(json.dumps(first).encode())
    gateway.receive(json.dumps(second))
    assert len(gateway.inbox.list()) == 2


def _with_body(key: Ed25519PrivateKey, edit: Callable[[dict[str, Any]], object]) -> object:
    body = make_request().to_json()
    edit(body)
    return sign(key, Domain.FOOTAGE_REQUEST, body).to_json()


def _tampered(key: Ed25519PrivateKey) -> object:
    data = envelope_json(key, make_request())
    data["body"]["case_number"] = "other-case"
    return data


def _window(start_h: float, end_h: float) -> TimeWindow:
    return TimeWindow(NOW + timedelta(hours=start_h), NOW + timedelta(hours=end_h))


def _radius(metres: float) -> Incident:
    return Incident(IncidentType.THEFT, "x", GeoPoint(41.5, -81.7), metres)


Case = Callable[[Ed25519PrivateKey], object]
REJECTIONS: list[tuple[str, Case, RejectionReason]] = [
    ("not json", lambda k: "{nope", RejectionReason.MALFORMED),
    ("not an object", lambda k: [1, 2], RejectionReason.MALFORMED),
    (
        "envelope missing signature",
        lambda k: {
            kk: v for kk, v in envelope_json(k, make_request()).items() if kk != "signature"
        },
        RejectionReason.MALFORMED,
    ),
    (
        "unknown domain",
        lambda k: {**envelope_json(k, make_request()), "domain": "pizza-order"},
        RejectionReason.MALFORMED,
    ),
    (
        "signed by another key",
        lambda k: envelope_json(Ed25519PrivateKey.generate(), make_request()),
        RejectionReason.UNKNOWN_KEY,
    ),
    ("body changed after signing", _tampered, RejectionReason.BAD_SIGNATURE),
    (
        "signed for another domain",
        lambda k: {
            **sign(k, Domain.ENROLLMENT, make_request().to_json()).to_json(),
            "domain": "footage-request",
        },
        RejectionReason.BAD_SIGNATURE,
    ),
    (
        "signature of another message",
        lambda k: {
            **envelope_json(k, make_request()),
            "signature": envelope_json(k, make_request())["signature"],
        },
        RejectionReason.BAD_SIGNATURE,
    ),
    (
        "signed body with an unknown field",
        lambda k: _with_body(k, lambda b: b.update(keep_forever=True)),
        RejectionReason.MALFORMED,
    ),
    (
        "signed body missing a field",
        lambda k: _with_body(k, lambda b: b.pop("disclosures")),
        RejectionReason.MALFORMED,
    ),
    (
        "another city",
        lambda k: envelope_json(k, make_request(city_id="cary")),
        RejectionReason.WRONG_CITY,
    ),
    (
        "issued beyond the clock skew",
        lambda k: envelope_json(k, make_request(issued_at=NOW + timedelta(minutes=5, seconds=1))),
        RejectionReason.ISSUED_IN_FUTURE,
    ),
    (
        "respond-by now",
        lambda k: envelope_json(k, make_request(respond_by=NOW)),
        RejectionReason.EXPIRED,
    ),
    (
        "respond-by passed",
        lambda k: envelope_json(k, make_request(respond_by=NOW - timedelta(days=1))),
        RejectionReason.EXPIRED,
    ),
    (
        "window over 12 hours",
        lambda k: envelope_json(k, make_request(window=_window(-13, -1 + 1 / 3600))),
        RejectionReason.WINDOW_TOO_LONG,
    ),
    (
        "window ending in the future",
        lambda k: envelope_json(k, make_request(window=_window(-1, 0.1))),
        RejectionReason.WINDOW_IN_FUTURE,
    ),
    (
        "radius over 800 m",
        lambda k: envelope_json(k, make_request(incident=_radius(800.5))),
        RejectionReason.RADIUS_TOO_LARGE,
    ),
    (
        "one camera not ours",
        lambda k: envelope_json(k, make_request(registration_ids=("reg-front", "reg-neighbour"))),
        RejectionReason.NOT_OUR_CAMERA,
    ),
    (
        "no camera ours",
        lambda k: envelope_json(k, make_request(registration_ids=("reg-neighbour",))),
        RejectionReason.NOT_OUR_CAMERA,
    ),
]


@pytest.mark.parametrize(
    ("build", "reason"), [(b, r) for _, b, r in REJECTIONS], ids=[n for n, _, _ in REJECTIONS]
)
def test_rejections_change_nothing(gateway: Gateway, build: Case, reason: RejectionReason) -> None:
    gateway.receive(envelope_json(gateway.city_key, make_request()))
    before_rows, before_inbox = gateway.replay_rows(), gateway.inbox.list()
    with pytest.raises(RequestRejectedError) as info:
        gateway.receive(build(gateway.city_key))
    assert info.value.reason is reason
    assert str(info.value).startswith(f"Footage request rejected ({reason.value}): ")
    assert info.value.detail in str(info.value)
    assert gateway.replay_rows() == before_rows
    assert gateway.inbox.list() == before_inbox


def test_every_reason_has_a_case() -> None:
    covered = {reason for _, _, reason in REJECTIONS} | {RejectionReason.REPLAYED}
    assert covered == set(RejectionReason)


def test_boundaries_are_accepted(gateway: Gateway) -> None:
    edge = make_request(
        issued_at=NOW + timedelta(minutes=5),
        respond_by=NOW + timedelta(seconds=1),
        window=_window(-12, 0),
        incident=_radius(800.0),
        registration_ids=OUR_CAMERAS,
    )
    assert gateway.receive(envelope_json(gateway.city_key, edge)) == edge
    future_end = make_request(window=_window(-1, 5 / 60))
    assert gateway.receive(envelope_json(gateway.city_key, future_end)) == future_end


def test_resident_caps_tighten(gateway: Gateway) -> None:
    caps = Caps(max_window=timedelta(hours=1), max_radius_m=200.0, clock_skew=timedelta(0))
    cases = [
        (make_request(window=_window(-3, -1)), RejectionReason.WINDOW_TOO_LONG),
        (make_request(incident=_radius(250.0)), RejectionReason.RADIUS_TOO_LARGE),
        (make_request(issued_at=NOW + timedelta(seconds=1)), RejectionReason.ISSUED_IN_FUTURE),
        (make_request(window=_window(-0.5, 1 / 3600)), RejectionReason.WINDOW_IN_FUTURE),
    ]
    for request, reason in cases:
        with pytest.raises(RequestRejectedError) as info:
            gateway.receive(envelope_json(gateway.city_key, request), caps)
        assert info.value.reason is reason
        assert info.value.request_id == request.request_id
    assert gateway.replay_rows() == [] and gateway.inbox.list() == []


@pytest.mark.parametrize(
    "caps",
    [
        {"max_window": timedelta(hours=12, seconds=1)},
        {"max_window": timedelta(0)},
        {"max_radius_m": 800.1},
        {"max_radius_m": 0},
        {"clock_skew": timedelta(minutes=6)},
        {"clock_skew": timedelta(seconds=-1)},
    ],
)
def test_caps_cannot_be_loosened(caps: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Caps(**caps)


def test_first_failing_check_is_reported(gateway: Gateway) -> None:
    wrong_everything = make_request(
        city_id="cary", respond_by=NOW - timedelta(days=1), incident=_radius(900.0)
    )
    with pytest.raises(RequestRejectedError) as info:
        gateway.receive(envelope_json(gateway.city_key, wrong_everything))
    assert info.value.reason is RejectionReason.WRONG_CITY
    expired_and_long = make_request(respond_by=NOW, window=_window(-20, -1))
    with pytest.raises(RequestRejectedError) as info:
        gateway.receive(envelope_json(gateway.city_key, expired_and_long))
    assert info.value.reason is RejectionReason.EXPIRED


@pytest.mark.parametrize(
    "second",
    [
        lambda r: r,
        lambda r: replace(r, nonce="ZnJlc2gtbm9uY2UtMDAwMQ"),
        lambda r: replace(r, request_id="8a3c4bd4-5f0c-4c43-9d0e-8f1f2a3b4c5d"),
    ],
    ids=["same message", "same request id", "same nonce"],
)
def test_replays_are_rejected(
    gateway: Gateway, second: Callable[[FootageRequest], FootageRequest]
) -> None:
    first = make_request()
    gateway.receive(envelope_json(gateway.city_key, first))
    before_rows, before_inbox = gateway.replay_rows(), gateway.inbox.list()
    with pytest.raises(RequestRejectedError) as info:
        gateway.receive(envelope_json(gateway.city_key, second(first)))
    assert info.value.reason is RejectionReason.REPLAYED
    assert gateway.replay_rows() == before_rows
    assert gateway.inbox.list() == before_inbox


def test_a_rejected_message_does_not_burn_its_id(gateway: Gateway) -> None:
    fixed = make_request()
    broken = replace(fixed, registration_ids=("reg-neighbour",))
    with pytest.raises(RequestRejectedError):
        gateway.receive(envelope_json(gateway.city_key, broken))
    assert gateway.receive(envelope_json(gateway.city_key, fixed)) == fixed


def test_naive_clock_is_refused(gateway: Gateway) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_footage_request(
            envelope_json(gateway.city_key, make_request()), city_key=gateway.city_key.public_key(),
            city_id=CITY_ID, registration_ids=OUR_CAMERAS, caps=Caps(), replay=gateway.replay,
            now=NOW.replace(tzinfo=None),
        )  # fmt: skip


def test_racing_claims_have_one_winner(db_path: Path) -> None:
    guards = [ReplayGuard(db_path) for _ in range(8)]
    barrier = threading.Barrier(len(guards))
    results: list[bool] = []

    def claim(guard: ReplayGuard) -> None:
        barrier.wait()
        results.append(guard.claim("req-1", "nonce-1", NOW + timedelta(days=1)))

    threads = [threading.Thread(target=claim, args=(guard,)) for guard in guards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def test_prune_forgets_only_expired_claims(db_path: Path) -> None:
    guard = ReplayGuard(db_path)
    assert guard.claim("old", "n-old", NOW - timedelta(seconds=1))
    assert guard.claim("new", "n-new", NOW + timedelta(days=1))
    assert guard.prune(NOW) == 1
    assert guard.claim("old", "n-old", NOW + timedelta(days=1))
    assert not guard.claim("new", "n-other", NOW + timedelta(days=1))
