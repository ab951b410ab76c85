"""The request inbox: decisions, expiry, upload progress, API JSON, races, and state derivation."""

from __future__ import annotations

import re
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.inbox import (
    CameraState,
    Inbox,
    InboxError,
    InboxRequest,
    InvalidDecisionError,
    InvalidTransitionError,
    PreviewStatus,
    RequestNotFoundError,
    RequestState,
)
from gateway.requeststate import derive_state
from protocol.messages import FootageRequest
from protocol.timeutil import TimeWindow, format_time
from tests.gateway.trust_factories import NOW, OUR_CAMERAS, make_request, signed

KEY = Ed25519PrivateKey.generate()
THREE = [("reg-front", "Front door", 40.0), ("reg-drive", "Driveway", 120.5),
         ("reg-back", "Back yard", 300.0)]  # fmt: skip


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path / "gateway.db")


def add(inbox: Inbox, request: FootageRequest | None = None, offset_s: int = 0) -> InboxRequest:
    request = request or make_request(registration_ids=OUR_CAMERAS)
    cameras = [c for c in THREE if c[0] in request.registration_ids]
    return inbox.add(*signed(KEY, request), cameras, NOW + timedelta(seconds=offset_s))


def states(item: InboxRequest) -> dict[str, CameraState]:
    return {c.registration_id: c.state for c in item.cameras}


def test_added_request_is_pending(inbox: Inbox) -> None:
    item = add(inbox)
    assert item.state is RequestState.PENDING
    assert item.preview is PreviewStatus.NONE
    assert item.received_at == item.updated_at == NOW
    assert [c.name for c in item.cameras] == ["Front door", "Driveway", "Back yard"]
    assert set(states(item).values()) == {CameraState.PENDING}
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", item.approval_nonce)
    assert add(inbox).approval_nonce != item.approval_nonce
    assert inbox.get(item.request.request_id) == item
    assert inbox.pending_count() == 2


def test_bad_additions_change_nothing(inbox: Inbox) -> None:
    first = add(inbox)
    request = make_request()
    other_envelope = signed(KEY, make_request())[1]
    with pytest.raises(InboxError, match="already in the inbox"):
        inbox.add(first.request, first.envelope, THREE, NOW)
    with pytest.raises(InboxError, match="does not carry this request"):
        inbox.add(request, other_envelope, THREE[:2], NOW)
    with pytest.raises(InboxError, match="Only cameras the request names"):
        inbox.add(*signed(KEY, request), THREE, NOW)
    with pytest.raises(InboxError, match="at least one camera"):
        inbox.add(*signed(KEY, request), [], NOW)
    with pytest.raises(InboxError, match="each listed once"):
        inbox.add(*signed(KEY, request), [THREE[0], THREE[0]], NOW)
    assert inbox.list() == [first]


def test_list_is_newest_first_and_filters(inbox: Inbox) -> None:
    old, new = add(inbox, offset_s=0), add(inbox, offset_s=10)
    assert [i.request.request_id for i in inbox.list()] == [
        new.request.request_id,
        old.request.request_id,
    ]
    inbox.decline(old.request.request_id, cameras=None, decided_by="resident", now=NOW)
    assert [i.request for i in inbox.list(RequestState.PENDING)] == [new.request]
    assert [i.request for i in inbox.list(RequestState.DECLINED)] == [old.request]


def test_unknown_request(inbox: Inbox) -> None:
    with pytest.raises(RequestNotFoundError, match="No footage request 'nope'"):
        inbox.get("nope")
    with pytest.raises(RequestNotFoundError):
        inbox.approve("nope", cameras=None, window=None, decided_by="resident", now=NOW)


def test_approve_all(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    item = inbox.approve(rid, cameras=None, window=None, decided_by="resident", now=NOW)
    assert item.state is RequestState.APPROVED
    assert set(states(item).values()) == {CameraState.APPROVED}
    assert item.approved_window == item.request.window
    assert item.decided_by == "resident"
    assert inbox.pending_count() == 0


def test_approving_some_declines_the_rest_and_narrows(inbox: Inbox) -> None:
    item = add(inbox)
    window = item.request.window
    narrow = TimeWindow(window.start + timedelta(minutes=5), window.end - timedelta(minutes=5))
    item = inbox.approve(
        item.request.request_id, cameras=["reg-drive"], window=narrow, decided_by="rule:near",
        now=NOW,
    )  # fmt: skip
    assert states(item) == {
        "reg-front": CameraState.DECLINED,
        "reg-drive": CameraState.APPROVED,
        "reg-back": CameraState.DECLINED,
    }
    assert item.state is RequestState.APPROVED
    assert item.approved_window == narrow
    assert item.decided_by == "rule:near"


def test_partial_decline_keeps_the_rest_pending(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    item = inbox.decline(rid, cameras=["reg-back"], decided_by="rule:not-back", now=NOW)
    assert item.state is RequestState.PENDING and item.decided_by is None
    with pytest.raises(InvalidDecisionError, match="'Back yard' was already declined"):
        inbox.approve(rid, cameras=["reg-back"], window=None, decided_by="resident", now=NOW)
    item = inbox.approve(rid, cameras=None, window=None, decided_by="resident", now=NOW)
    assert states(item)["reg-back"] is CameraState.DECLINED
    assert states(item)["reg-front"] is CameraState.APPROVED
    assert item.decided_by == "resident"


def test_decline_all(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    item = inbox.decline(rid, cameras=None, decided_by="privacy_mode", now=NOW)
    assert item.state is RequestState.DECLINED
    assert item.decided_by == "privacy_mode"
    assert item.approved_window is None


@pytest.mark.parametrize(
    ("cameras", "window_shift", "message"),
    [
        (["reg-nope"], None, "'reg-nope' is not part of this request"),
        ([], None, "at least one camera"),
        (["reg-front", "reg-front"], None, "each listed once"),
        ("reg-front", None, "at least one camera"),
        (None, timedelta(minutes=1), "must lie inside the requested window"),
        (None, timedelta(minutes=-1), "must lie inside the requested window"),
    ],
)
def test_bad_decisions_change_nothing(
    inbox: Inbox, cameras: list[str] | None, window_shift: timedelta | None, message: str
) -> None:
    item = add(inbox)
    window = None
    if window_shift is not None:
        req = item.request.window
        window = TimeWindow(req.start + window_shift, req.end + window_shift)
    with pytest.raises(InvalidDecisionError, match=message):
        inbox.approve(
            item.request.request_id, cameras=cameras, window=window, decided_by="resident", now=NOW
        )
    assert inbox.get(item.request.request_id) == item
    with pytest.raises(InvalidDecisionError, match="say who made it"):
        inbox.decline(item.request.request_id, cameras=None, decided_by=" ", now=NOW)
    assert inbox.get(item.request.request_id) == item


def test_only_pending_requests_can_be_decided(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    done = inbox.approve(rid, cameras=None, window=None, decided_by="resident", now=NOW)
    with pytest.raises(InvalidTransitionError, match="already approved; only a pending request"):
        inbox.approve(rid, cameras=None, window=None, decided_by="resident", now=NOW)
    with pytest.raises(InvalidTransitionError, match="can be declined"):
        inbox.decline(rid, cameras=None, decided_by="resident", now=NOW)
    assert inbox.get(rid) == done


def test_expiry(inbox: Inbox) -> None:
    due = add(inbox, make_request(respond_by=NOW + timedelta(hours=1)))
    later = add(inbox, make_request(respond_by=NOW + timedelta(days=3)))
    decided = add(inbox, make_request(respond_by=NOW + timedelta(hours=1)))
    inbox.decline(decided.request.request_id, cameras=None, decided_by="resident", now=NOW)
    assert inbox.expire_due(NOW + timedelta(minutes=59)) == []
    with pytest.raises(InvalidTransitionError, match="can no longer be approved"):
        inbox.approve(
            due.request.request_id, cameras=None, window=None, decided_by="resident",
            now=NOW + timedelta(hours=1),
        )  # fmt: skip
    expired = inbox.expire_due(NOW + timedelta(hours=1))
    assert [i.request.request_id for i in expired] == [due.request.request_id]
    item = expired[0]
    assert item.state is RequestState.EXPIRED and item.decided_by == "expired"
    assert set(states(item).values()) == {CameraState.DECLINED}
    assert inbox.get(later.request.request_id).state is RequestState.PENDING
    assert inbox.get(decided.request.request_id).state is RequestState.DECLINED
    assert inbox.expire_due(NOW + timedelta(hours=2)) == []


def test_upload_progress_drives_the_request_state(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    inbox.approve(rid, cameras=["reg-front", "reg-drive"], window=None, decided_by="r", now=NOW)
    step = inbox.set_camera_state
    assert step(rid, "reg-front", CameraState.UPLOADING, "12%", NOW).state is RequestState.UPLOADING
    item = step(rid, "reg-front", CameraState.DELIVERED, None, NOW)
    assert item.state is RequestState.UPLOADING  # the driveway is still to go
    item = step(rid, "reg-drive", CameraState.FAILED, "camera offline", NOW)
    assert item.state is RequestState.FAILED
    assert item.camera("reg-drive").detail == "camera offline"
    assert step(rid, "reg-drive", CameraState.APPROVED, "retrying", NOW).state is (
        RequestState.UPLOADING
    )
    item = step(rid, "reg-drive", CameraState.DELIVERED, None, NOW + timedelta(minutes=1))
    assert item.state is RequestState.DELIVERED
    assert item.updated_at == NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("setup", "camera", "target"),
    [
        ("pending", "reg-front", CameraState.UPLOADING),
        ("pending", "reg-front", CameraState.APPROVED),
        ("approved", "reg-back", CameraState.UPLOADING),  # declined when the rest was approved
        ("approved", "reg-front", CameraState.PENDING),
        ("approved", "reg-front", CameraState.DECLINED),
        ("delivered", "reg-front", CameraState.FAILED),
    ],
)
def test_bad_camera_transitions_change_nothing(
    inbox: Inbox, setup: str, camera: str, target: CameraState
) -> None:
    rid = add(inbox).request.request_id
    if setup != "pending":
        inbox.approve(rid, cameras=["reg-front"], window=None, decided_by="r", now=NOW)
    if setup == "delivered":
        inbox.set_camera_state(rid, "reg-front", CameraState.DELIVERED, None, NOW)
    before = inbox.get(rid)
    with pytest.raises(InvalidTransitionError, match="cannot become"):
        inbox.set_camera_state(rid, camera, target, None, NOW + timedelta(seconds=5))
    assert inbox.get(rid) == before


def test_preview_and_error(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    item = inbox.set_preview(rid, PreviewStatus.READY, NOW + timedelta(seconds=1))
    assert item.preview is PreviewStatus.READY and item.state is RequestState.PENDING
    item = inbox.set_error(rid, "the reply could not be sent", NOW)
    assert item.error == "the reply could not be sent"
    assert inbox.set_error(rid, "", NOW).error is None


def test_api_json_matches_the_contract(inbox: Inbox) -> None:
    item = add(inbox, make_request(registration_ids=("reg-front",)))
    data = item.to_api_json()
    assert list(data) == [
        "id", "state", "issued_at", "received_at", "updated_at", "approval_nonce", "agency",
        "officer",
        "case_number", "incident", "window", "window_minutes", "respond_by", "legal_basis",
        "disclosures", "cameras", "preview", "decided_by", "error",
    ]  # fmt: skip
    request = item.request
    assert data["id"] == request.request_id
    assert data["state"] == "pending"
    assert data["received_at"] == "2026-11-21T10:00:00Z"
    assert data["issued_at"] == format_time(request.issued_at)
    assert data["agency"] == {"name": "Cleveland Division of Police", "id": "cle-pd"}
    assert set(data["officer"]) == {"name", "badge", "email", "phone"}
    assert data["incident"] == {
        "type": "burglary", "description": "Rear door forced",
        "point": {"lat": 41.4993, "lon": -81.6944}, "radius_m": 300.0,
    }  # fmt: skip
    assert data["window"] == request.window.to_json()
    assert data["window_minutes"] == 30
    assert data["legal_basis"] == "voluntary"
    assert set(data["disclosures"]) == {
        "retention_days", "may_become_public_record", "may_be_asked_to_testify",
        "name_may_appear_in_court_documents", "notes",
    }  # fmt: skip
    assert data["cameras"] == [
        {"registration_id": "reg-front", "name": "Front door", "distance_m": 40.0,
         "state": "pending", "detail": None, "progress": None}
    ]  # fmt: skip
    assert data["preview"] == {"status": "none"}
    assert data["decided_by"] is None and data["error"] is None


def race(db: Path) -> tuple[list[str], InboxRequest]:
    """Two inboxes on one database approve the same request at once; who won, and the result."""
    rid = add(Inbox(db)).request.request_id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(inbox: Inbox, who: str, cameras: list[str] | None) -> None:
        barrier.wait()
        try:
            inbox.approve(rid, cameras=cameras, window=None, decided_by=who, now=NOW)
            outcomes.append(who)
        except InvalidTransitionError:
            outcomes.append("lost")

    threads = [
        threading.Thread(target=decide, args=(Inbox(db), "phone", None)),
        threading.Thread(target=decide, args=(Inbox(db), "ha", ["reg-front"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes, Inbox(db).get(rid)


def test_racing_approvals_have_exactly_one_winner(tmp_path: Path) -> None:
    for _ in range(10):
        outcomes, final = race(tmp_path / "gateway.db")
        assert len(outcomes) == 2 and outcomes.count("lost") == 1
        winner = next(o for o in outcomes if o != "lost")
        assert final.decided_by == winner
        approved = [c.registration_id for c in final.cameras if c.state is CameraState.APPROVED]
        assert approved == (["reg-front"] if winner == "ha" else list(OUR_CAMERAS))


camera_states = st.lists(st.sampled_from(CameraState), min_size=1, max_size=6)


@given(camera_states)
def test_derived_state_follows_the_rules(cams: list[CameraState]) -> None:
    state = derive_state(cams)
    active = [s for s in cams if s is not CameraState.DECLINED]
    working = {CameraState.APPROVED, CameraState.UPLOADING}
    if CameraState.PENDING in cams:
        assert state is RequestState.PENDING
    elif not active:
        assert state is RequestState.DECLINED
    elif all(s is CameraState.DELIVERED for s in active):
        assert state is RequestState.DELIVERED
    elif CameraState.UPLOADING in active:
        assert state is RequestState.UPLOADING
    elif CameraState.FAILED in active and not working & set(active):
        assert state is RequestState.FAILED
    else:
        assert state in (RequestState.APPROVED, RequestState.UPLOADING)
        assert (state is RequestState.APPROVED) == all(s is CameraState.APPROVED for s in active)


operation = st.tuples(
    st.sampled_from(["approve", "decline", "camera", "expire"]),
    st.lists(st.sampled_from(["reg-front", "reg-drive", "reg-back"]), max_size=3, unique=True),
    st.sampled_from(CameraState),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=12))
def test_random_operations_keep_the_inbox_consistent(
    ops: list[tuple[str, list[str], CameraState]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        inbox = Inbox(Path(folder) / "gateway.db")
        rid = add(inbox).request.request_id
        for kind, cams, target in ops:
            before = inbox.get(rid)
            try:
                if kind == "approve":
                    inbox.approve(rid, cameras=cams or None, window=None, decided_by="r", now=NOW)
                elif kind == "decline":
                    inbox.decline(rid, cameras=cams or None, decided_by="r", now=NOW)
                elif kind == "camera" and cams:
                    inbox.set_camera_state(rid, cams[0], target, None, NOW)
                elif kind == "expire":
                    inbox.expire_due(NOW + timedelta(days=3))
            except InboxError:
                assert inbox.get(rid) == before  # a refused change changes nothing
            item = inbox.get(rid)
            cam_states = [c.state for c in item.cameras]
            if item.state is RequestState.EXPIRED:
                assert set(cam_states) == {CameraState.DECLINED}
            else:
                assert item.state is derive_state(cam_states)
            # A camera that was declined never becomes anything else.
            for old, new in zip(before.cameras, item.cameras, strict=True):
                if old.state is CameraState.DECLINED:
                    assert new.state is CameraState.DECLINED
            # Nothing is approved while another camera is still undecided.
            assert not (CameraState.PENDING in cam_states and CameraState.APPROVED in cam_states)
            assert (item.decided_by is None) == (item.state is RequestState.PENDING)
