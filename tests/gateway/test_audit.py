"""The audit log: chain, data hygiene, checkpoints, export, and tamper detection."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import (
    AuditDataError,
    AuditKind,
    AuditLog,
    verify_database,
    verify_export,
)
from gateway.auditchain import GENESIS_HASH, AuditError, entry_hash
from protocol.signing import Domain, encode_public_key, sign, verify

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def device_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def log(db_path: Path, device_key: Ed25519PrivateKey) -> AuditLog:
    return AuditLog(db_path, device_key)


def fill(log: AuditLog, count: int = 5) -> None:
    kinds = [AuditKind.REQUEST_RECEIVED, AuditKind.REQUEST_SHOWN, AuditKind.REQUEST_DECIDED]
    for i in range(count):
        log.append(
            kinds[i % 3],
            f"req-{i % 2}",
            {"step": i, "cameras": ["reg-1"]},
            T0 + timedelta(seconds=i),
        )


def execute(db_path: Path, sql: str, *args: Any) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(sql, args)


def test_entries_form_a_chain(log: AuditLog) -> None:
    fill(log, 4)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    first = entries[0]
    assert first.hash == entry_hash({**first.to_json(), "at": "2026-11-21T10:00:00Z"})
    assert first.data == {"step": 0, "cameras": ["reg-1"]}
    assert [e.seq for e in log.entries("req-1")] == [2, 4]


def test_append_returns_what_is_stored(log: AuditLog) -> None:
    entry = log.append(AuditKind.RULE_MATCHED, "req-9", {"rule": "night", "tuple": (1, 2)}, T0)
    assert log.entries() == [entry]
    assert entry.data == {"rule": "night", "tuple": [1, 2]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"clip": "/var/lib/safesmart/spool/clip.mp4"}, "data.clip: file paths never go"),
        ({"nested": {"files": ["ok", "~/clips/a.mp4"]}}, r"data.nested.files\[1\]: file paths"),
        ({"where": "C:\\Users\\me\\clip.mp4"}, "file paths never go"),
        ({"where": "file:///tmp/x"}, "file paths never go"),
        ({"api_token": "abc"}, "data.api_token: secrets and tokens"),
        ({"approval_nonce": "abc"}, "secrets and tokens"),
        ({"Password": "x"}, "secrets and tokens"),
        ({"ratio": float("nan")}, "NaN"),
        ({"when": T0}, "datetime is not a JSON value"),
        ({"raw": b"bytes"}, "bytes is not a JSON value"),
    ],
)
def test_bad_data_is_refused_and_nothing_is_logged(
    log: AuditLog, data: dict[str, Any], message: str
) -> None:
    log.append(AuditKind.ENROLLED, None, {"city": "cle"}, T0)
    with pytest.raises(AuditDataError, match=message):
        log.append(AuditKind.REQUEST_DECIDED, "req-1", data, T0)
    assert len(log.entries()) == 1


def test_unknown_kind_is_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="not a valid AuditKind"):
        log.append("teleported", None, None, T0)  # type: ignore[arg-type]
    assert log.entries() == []


def test_checkpoint_is_signed_and_covers_the_head(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    empty = log.checkpoint(T0)
    assert verify(empty, device_key.public_key(), Domain.AUDIT_CHECKPOINT) == {
        "size": 0,
        "head": GENESIS_HASH,
        "at": "2026-11-21T10:00:00Z",
        "gateway_key": encode_public_key(device_key.public_key()),
    }
    fill(log, 3)
    envelope = log.checkpoint(T0 + timedelta(minutes=1))
    body = verify(envelope, device_key.public_key(), Domain.AUDIT_CHECKPOINT)
    assert body["size"] == 3
    assert body["head"] == log.entries()[-1].hash
    result = verify_database(db_path, device_key.public_key())
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints) == (3, 2)


def test_clean_log_verifies(log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path) -> None:
    fill(log, 6)
    log.checkpoint(T0)
    fill(log, 2)
    result = verify_database(db_path, device_key.public_key())
    assert result.ok and result.problems == () and result.entries == 8


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", "2026-11-21T09:00:00Z"),
        ("kind", "request_declined_quietly"),
        ("request_id", "req-other"),
        ("data", json.dumps({"step": 99, "cameras": ["reg-1"]})),
    ],
)
def test_altering_any_field_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path, column: str, value: str
) -> None:
    fill(log, 5)
    execute(db_path, f"UPDATE audit_entries SET {column} = ? WHERE seq = 3", value)  # noqa: S608
    problems = verify_database(db_path, device_key.public_key()).problems
    assert "entry 3: hash does not match its contents (it was altered)" in problems


def test_altering_the_stored_hash_breaks_the_next_link(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 5)
    execute(db_path, "UPDATE audit_entries SET hash = ? WHERE seq = 2", "ab" * 32)
    problems = verify_database(db_path, device_key.public_key()).problems
    assert problems == (
        "entry 2: hash does not match its contents (it was altered)",
        "entry 3: prev_hash does not match the hash of the entry before it",
    )


def test_altering_prev_hash_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 3)
    execute(db_path, "UPDATE audit_entries SET prev_hash = ? WHERE seq = 2", "cd" * 32)
    problems = verify_database(db_path, device_key.public_key()).problems
    assert "entry 2: prev_hash does not match the hash of the entry before it" in problems
    assert "entry 2: hash does not match its contents (it was altered)" in problems


def test_deleting_an_entry_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 5)
    execute(db_path, "DELETE FROM audit_entries WHERE seq = 3")
    result = verify_database(db_path, device_key.public_key())
    assert not result.ok
    assert result.problems[0] == (
        "entry 3: has seq 4, expected 3 (an entry was deleted, inserted or reordered)"
    )
    assert "entry 3: prev_hash does not match the hash of the entry before it" in result.problems


def test_rewriting_the_chain_is_caught_by_the_checkpoint(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 4)
    log.checkpoint(T0)
    # A thorough forger recomputes every hash after changing entry 2: the chain is
    # self-consistent again, but the signed head no longer matches.
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT * FROM audit_entries ORDER BY seq").fetchall()
        prev = GENESIS_HASH
        for seq, at, kind, request_id, data, _prev, _hash in rows:
            payload = json.loads(data)
            if seq == 2:
                payload["step"] = 42
            fields = {"seq": seq, "at": at, "kind": kind, "request_id": request_id,
                      "data": payload, "prev_hash": prev}  # fmt: skip
            prev = entry_hash(fields)
            db.execute(
                "UPDATE audit_entries SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (json.dumps(payload), fields["prev_hash"], prev, seq),
            )
    problems = verify_database(db_path, device_key.public_key()).problems
    assert problems == (
        "checkpoint 1: head does not match the hash of entry 4 (the log was rewritten)",
    )


def test_truncation_below_a_checkpoint_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 5)
    log.checkpoint(T0)
    execute(db_path, "DELETE FROM audit_entries WHERE seq > 3")
    problems = verify_database(db_path, device_key.public_key()).problems
    assert problems == (
        "checkpoint 1: covers 5 entries but the log holds only 3 (the log was truncated)",
    )


def test_forged_checkpoint_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 2)
    head = log.entries()[-1].hash
    body = {"size": 2, "head": head, "at": "2026-11-21T10:00:00Z",
            "gateway_key": encode_public_key(device_key.public_key())}  # fmt: skip
    forged = sign(Ed25519PrivateKey.generate(), Domain.AUDIT_CHECKPOINT, body)
    execute(
        db_path,
        "INSERT INTO audit_checkpoints (size, envelope) VALUES (2, ?)",
        json.dumps(forged.to_json()),
    )
    problems = verify_database(db_path, device_key.public_key()).problems
    assert len(problems) == 1
    assert problems[0].startswith(
        "checkpoint 1: not a valid signature by this gateway's device key"
    )


def test_checkpoint_with_edited_size_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, db_path: Path
) -> None:
    fill(log, 3)
    envelope = log.checkpoint(T0).to_json()
    envelope["body"]["size"] = 2
    execute(db_path, "UPDATE audit_checkpoints SET envelope = ?", json.dumps(envelope))
    problems = verify_database(db_path, device_key.public_key()).problems
    assert problems == (
        "checkpoint 1: not a valid signature by this gateway's device key"
        " (the signature does not verify)",
    )


def test_wrong_device_key_fails_every_checkpoint(log: AuditLog, db_path: Path) -> None:
    fill(log, 2)
    log.checkpoint(T0)
    log.checkpoint(T0)
    result = verify_database(db_path, Ed25519PrivateKey.generate().public_key())
    assert not result.ok and len(result.problems) == 2


def test_export_round_trips(log: AuditLog, device_key: Ed25519PrivateKey, tmp_path: Path) -> None:
    fill(log, 5)
    first = log.checkpoint(T0)
    fill(log, 1)
    second = log.checkpoint(T0 + timedelta(seconds=1))
    (tmp_path / "export").mkdir()
    out = tmp_path / "export" / "audit.jsonl"
    assert log.export(out) == 6
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["entry"] * 6 + ["checkpoint"] * 2
    assert lines[0] == {"type": "entry", **log.entries()[0].to_json()}
    assert [line["envelope"] for line in lines[6:]] == [first.to_json(), second.to_json()]
    result = verify_export(out, device_key.public_key())
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints) == (6, 2)
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_export_to_a_folder_a_pipe_or_nowhere_is_refused_and_writes_nothing(
    log: AuditLog, tmp_path: Path
) -> None:
    # A pipe or a device would be replaced by the file (/dev/null, when run as root); a folder
    # or a missing one stopped the command with a traceback.
    fill(log, 2)
    folder = tmp_path / "export"
    folder.mkdir()
    pipe = folder / "pipe"
    os.mkfifo(pipe)
    for path, message in [
        (pipe, "is a device, a pipe or a socket; name a file"),
        (folder, "is a folder; name a file"),
        (folder / "missing" / "audit.jsonl", "folder .* does not exist"),
    ]:
        with pytest.raises(AuditError, match=message):
            log.export(path)
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert [p.name for p in folder.iterdir()] == ["pipe"]


def test_reordered_export_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    fill(log, 4)
    log.checkpoint(T0)
    out = tmp_path / "audit.jsonl"
    log.export(out)
    lines = out.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    out.write_text("\n".join(lines) + "\n")
    problems = verify_export(out, device_key.public_key()).problems
    assert problems[0] == (
        "entry 2: has seq 3, expected 2 (an entry was deleted, inserted or reordered)"
    )
    assert (
        "entry 3: has seq 2, expected 3 (an entry was deleted, inserted or reordered)" in problems
    )


def test_truncated_export_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    fill(log, 4)
    log.checkpoint(T0)
    out = tmp_path / "audit.jsonl"
    log.export(out)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2] + lines[4:]) + "\n")
    problems = verify_export(out, device_key.public_key()).problems
    assert problems == (
        "checkpoint 1: covers 4 entries but the log holds only 2 (the log was truncated)",
    )


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda lines: lines.insert(1, "{not json"), "line 2: not valid JSON"),
        (lambda lines: lines.insert(1, '{"type": "note"}'), "line 2: neither an entry nor"),
        (lambda lines: lines.append(lines[0]), "line 5: an entry after the checkpoints"),
        (
            lambda lines: lines.__setitem__(0, lines[0].replace('"seq": 1,', '"seq": 1, "x": 1,')),
            "entry 1: wrong set of fields",
        ),
    ],
)
def test_malformed_export_lines_are_reported(
    log: AuditLog, device_key: Ed25519PrivateKey, tmp_path: Path, edit: Any, problem: str
) -> None:
    fill(log, 3)
    log.checkpoint(T0)
    out = tmp_path / "audit.jsonl"
    log.export(out)
    lines = out.read_text().splitlines()
    edit(lines)
    out.write_text("\n".join(lines) + "\n")
    result = verify_export(out, device_key.public_key())
    assert not result.ok
    assert any(p.startswith(problem) for p in result.problems), result.problems


def test_missing_files_are_reported(tmp_path: Path, device_key: Ed25519PrivateKey) -> None:
    assert not verify_export(tmp_path / "none.jsonl", device_key.public_key()).ok
    result = verify_database(tmp_path / "none.db", device_key.public_key())
    assert result.problems == ("the gateway database does not exist",)
    assert not (tmp_path / "none.db").exists()


def test_concurrent_appends_keep_one_chain(db_path: Path, device_key: Ed25519PrivateKey) -> None:
    logs = [AuditLog(db_path, device_key) for _ in range(4)]
    barrier = threading.Barrier(len(logs))

    def worker(log: AuditLog, n: int) -> None:
        barrier.wait()
        for i in range(25):
            log.append(AuditKind.UPLOAD_STARTED, f"req-{n}", {"i": i})

    threads = [threading.Thread(target=worker, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    result = verify_database(db_path, device_key.public_key())
    assert result.ok, result.problems
    assert result.entries == 100


def test_entry_hash_matches_the_documented_vector() -> None:
    request_id = "5f0c1d7e-1b8a-4c43-9d0e-8f1f2a3b4c5d"
    first = {"seq": 1, "at": "2026-11-21T10:00:00Z", "kind": "request_received",
             "request_id": request_id,
             "data": {"case_number": "2026-118822", "cameras": ["reg-front"]},
             "prev_hash": GENESIS_HASH}  # fmt: skip
    first_hash = "f78cda764142152980739250a02f3bc24944b6374053de59e98c1a68ade4e9a9"
    assert entry_hash(first) == first_hash
    second = {"seq": 2, "at": "2026-11-21T10:05:00Z", "kind": "request_decided",
              "request_id": request_id,
              "data": {"action": "approve", "decided_by": "resident", "cameras": ["reg-front"]},
              "prev_hash": first_hash}  # fmt: skip
    assert entry_hash(second) == "8a4134c28eeeb9e1ac265e468e2000d41f54058148948903a118435ff3d6e25a"
    assert first_hash in (Path(__file__).parents[2] / "docs" / "audit-log.md").read_text()


def test_renumbered_entry_is_caught(
    log: AuditLog, device_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    fill(log, 3)
    out = tmp_path / "audit.jsonl"
    log.export(out)
    lines = out.read_text().splitlines()
    lines[1] = lines[1].replace('"seq": 2,', '"seq": 7,')
    out.write_text("\n".join(lines) + "\n")
    assert verify_export(out, device_key.public_key()).problems == (
        "entry 2: has seq 7, expected 2 (an entry was deleted, inserted or reordered)",
        "entry 2: hash does not match its contents (it was altered)",
    )
