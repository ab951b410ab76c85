"""A camera's numeric progress in the inbox, and databases from before it existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.inbox import CameraState, Inbox, InboxError
from gateway.uploadmirror import answer_progress
from gateway.uploads import UploadState, UploadStatus
from tests.gateway.test_inbox import KEY, THREE, add, inbox
from tests.gateway.trust_factories import NOW, OUR_CAMERAS, make_request, signed

__all__ = ["inbox"]

# The inbox's tables as gateways before numeric progress created them.
OLD_SCHEMA = """
CREATE TABLE inbox_requests (
    request_id TEXT PRIMARY KEY, request TEXT NOT NULL, envelope TEXT NOT NULL,
    state TEXT NOT NULL, received_at TEXT NOT NULL, received_us INTEGER NOT NULL,
    updated_at TEXT NOT NULL, respond_by_us INTEGER NOT NULL,
    approval_nonce TEXT NOT NULL UNIQUE, approved_window TEXT, decided_by TEXT, error TEXT,
    preview TEXT NOT NULL
);
CREATE TABLE inbox_cameras (
    request_id TEXT NOT NULL REFERENCES inbox_requests(request_id), position INTEGER NOT NULL,
    registration_id TEXT NOT NULL, name TEXT NOT NULL, distance_m REAL NOT NULL,
    state TEXT NOT NULL, detail TEXT, PRIMARY KEY (request_id, registration_id)
);
"""


def progress(inbox: Inbox, rid: str) -> dict[str, float | None]:
    return {c.registration_id: c.progress for c in inbox.get(rid).cameras}


def test_progress_follows_the_camera_state(inbox: Inbox) -> None:
    rid = add(inbox).request.request_id
    assert set(progress(inbox, rid).values()) == {None}                   # pending
    inbox.approve(rid, cameras=["reg-front", "reg-drive"], window=None, decided_by="r", now=NOW)
    assert progress(inbox, rid) == {"reg-front": 0.0, "reg-drive": 0.0, "reg-back": None}
    step = inbox.set_camera_state
    step(rid, "reg-front", CameraState.UPLOADING, "fetching", NOW)           # preparing: 0
    assert progress(inbox, rid)["reg-front"] == 0.0
    item = step(rid, "reg-front", CameraState.UPLOADING, "40 %", NOW, progress=0.4)
    assert item.camera("reg-front").progress == 0.4
    assert item.to_api_json()["cameras"][0]["progress"] == 0.4
    step(rid, "reg-drive", CameraState.FAILED, "camera offline", NOW, progress=0.5)
    assert progress(inbox, rid)["reg-drive"] is None                         # failed: none
    step(rid, "reg-drive", CameraState.APPROVED, "retrying", NOW)
    assert progress(inbox, rid)["reg-drive"] == 0.0
    step(rid, "reg-front", CameraState.DELIVERED, None, NOW)
    assert progress(inbox, rid)["reg-front"] == 1.0


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan"), True, "0.5"])
def test_bad_progress_changes_nothing(inbox: Inbox, bad: object) -> None:
    rid = add(inbox).request.request_id
    inbox.approve(rid, cameras=None, window=None, decided_by="r", now=NOW)
    before = inbox.get(rid)
    with pytest.raises(InboxError, match="from 0 to 1"):
        inbox.set_camera_state(rid, "reg-front", CameraState.UPLOADING, "x", NOW,
                               progress=bad)  # type: ignore[arg-type]
    assert inbox.get(rid) == before


def test_an_old_database_gains_the_column_and_keeps_its_requests(tmp_path: Path) -> None:
    db_path = tmp_path / "gateway.db"
    request = make_request(registration_ids=OUR_CAMERAS)
    Inbox(tmp_path / "scratch.db").add(*signed(KEY, request), THREE, NOW)  # rows to copy
    scratch = sqlite3.connect(tmp_path / "scratch.db")
    rows = scratch.execute("SELECT * FROM inbox_requests").fetchall()
    cameras = scratch.execute(
        "SELECT request_id, position, registration_id, name, distance_m, state, detail"
        " FROM inbox_cameras").fetchall()
    scratch.close()
    old = sqlite3.connect(db_path)
    old.executescript(OLD_SCHEMA)
    old.executemany("INSERT INTO inbox_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
    old.executemany("INSERT INTO inbox_cameras VALUES (?, ?, ?, ?, ?, ?, ?)", cameras)
    old.commit()
    old.close()

    migrated = Inbox(db_path)
    assert Inbox(db_path).get(request.request_id) == migrated.get(request.request_id)  # twice: ok
    item = migrated.get(request.request_id)
    assert [c.progress for c in item.cameras] == [None, None, None]
    item = migrated.approve(request.request_id, cameras=["reg-front"], window=None,
                            decided_by="r", now=NOW)
    item = migrated.set_camera_state(request.request_id, "reg-front", CameraState.UPLOADING,
                                     "uploading", NOW, progress=0.25)
    assert item.camera("reg-front").progress == 0.25
    columns = [row[1] for row in sqlite3.connect(db_path).execute(
        "PRAGMA table_info(inbox_cameras)")]
    assert columns.count("progress") == 1


def status(part: int, parts: int, state: UploadState, sent: int, total: int) -> UploadStatus:
    return UploadStatus(f"key-{part}", "rid", "reg", part, parts, state, sent, total, 1, None,
                        None)


def test_answer_progress_counts_acknowledged_bytes_over_every_part() -> None:
    assert answer_progress([]) == 0.0
    # part 2 is not sealed yet, so the answer's size is unknown: still preparing
    assert answer_progress([status(1, 2, UploadState.DELIVERED, 100, 100)]) == 0.0
    both = [status(1, 2, UploadState.DELIVERED, 100, 100),
            status(2, 2, UploadState.UPLOADING, 50, 300)]
    assert answer_progress(both) == pytest.approx(150 / 400)
    assert answer_progress([status(1, 1, UploadState.QUEUED, 0, 0)]) == 0.0
    assert answer_progress([status(1, 1, UploadState.UPLOADING, 300, 300)]) == 1.0
