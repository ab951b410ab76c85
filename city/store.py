"""SQLite (WAL) storage for the city: gateways, enrollment codes, cameras, requests, replies."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.canonical import b64decode
from protocol.geo import GeoPoint
from protocol.timeutil import format_time

from .area_index import AreaHit, AreaIndex
from .errors import ConflictError
from .records import CameraRecord, CameraStatus, IssuedRequest

SCHEMA = (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


_CAMERA_COLUMNS = (
    "registration_id, gateway_id, camera_id, name, lat, lon, precision, status, "
    "registered_at, updated_at"
)


class CityStore:
    """All city state in one SQLite file; the delivery engineer's `uploads` table shares it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._area: AreaIndex | None = None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- enrollment ---------------------------------------------------------------------

    def add_enrollment_code(
        self, code_hash: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self._db.execute(
            "INSERT INTO enrollment_codes (code_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (code_hash, format_time(created_at), format_time(expires_at)),
        )

    def redeem_code(self, code_hash: str, now: datetime, device_key: str, label: str) -> str | None:
        """Use a valid code once and enroll the device; None when the code is not usable."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT expires_at FROM enrollment_codes WHERE code_hash = ? AND used_at IS NULL",
                (code_hash,),
            ).fetchone()
            if row is None or row[0] <= format_time(now):
                return None
            existing = db.execute(
                "SELECT gateway_id FROM gateways WHERE device_key = ?", (device_key,)
            ).fetchone()
            if existing is not None:
                raise ConflictError("this device key is already enrolled with the city")
            gateway_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO gateways (gateway_id, device_key, label, enrolled_at) "
                "VALUES (?, ?, ?, ?)",
                (gateway_id, device_key, label, format_time(now)),
            )
            db.execute(
                "UPDATE enrollment_codes SET used_at = ?, gateway_id = ? WHERE code_hash = ?",
                (format_time(now), gateway_id, code_hash),
            )
        return gateway_id

    def gateway_key(self, gateway_id: str) -> Ed25519PublicKey | None:
        """The enrolled device key of a gateway, or None if it is not enrolled."""
        cached = self._keys.get(gateway_id)
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT device_key FROM gateways WHERE gateway_id = ?", (gateway_id,)
        ).fetchone()
        if row is None:
            return None
        key = Ed25519PublicKey.from_public_bytes(b64decode(row[0], "device_key"))
        self._keys[gateway_id] = key
        return key

    # -- cameras ------------------------------------------------------------------------

    def upsert_camera(self, camera: CameraRecord, envelope: dict[str, Any]) -> str:
        """Register a camera; the same (gateway, camera_id) keeps its registration id."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, registration_id FROM cameras WHERE gateway_id = ? AND camera_id = ?",
                (camera.gateway_id, camera.camera_id),
            ).fetchone()
            if row is None:
                cursor = db.execute(
                    f"INSERT INTO cameras ({_CAMERA_COLUMNS}, envelope) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_camera_row(camera), json.dumps(envelope)),
                )
                row_id, registration_id = cursor.lastrowid, camera.registration_id
            else:
                row_id, registration_id = row
                self._update_camera_row(db, row_id, camera, envelope)
            self._index(db, row_id, camera.lat, camera.lon)
        self._remember(row_id, str(registration_id), camera)
        return str(registration_id)

    def update_camera(
        self, registration_id: str, camera: CameraRecord, envelope: dict[str, Any]
    ) -> bool:
        """Replace a camera's name and location; False if it is not this gateway's camera."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM cameras WHERE registration_id = ? AND gateway_id = ? "
                "AND camera_id = ?",
                (registration_id, camera.gateway_id, camera.camera_id),
            ).fetchone()
            if row is None:
                return False
            self._update_camera_row(db, row[0], camera, envelope)
            self._index(db, row[0], camera.lat, camera.lon)
        self._remember(row[0], registration_id, camera)
        return True

    def withdraw_camera(self, registration_id: str, gateway_id: str, now: datetime) -> bool:
        """Withdraw a camera from the registry and the search index."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM cameras WHERE registration_id = ? AND gateway_id = ?",
                (registration_id, gateway_id),
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE cameras SET status = ?, updated_at = ? WHERE id = ?",
                (CameraStatus.WITHDRAWN.value, format_time(now), row[0]),
            )
            db.execute("DELETE FROM camera_index WHERE id = ?", (row[0],))
        return True

    def import_cameras(self, cameras: Iterable[CameraRecord]) -> None:
        """Bulk-load registered cameras in one transaction (benchmarks, migrations)."""
        added: list[tuple[int | None, CameraRecord]] = []
        with self._transaction() as db:
            for camera in cameras:
                cursor = db.execute(
                    f"INSERT INTO cameras ({_CAMERA_COLUMNS}, envelope) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')",
                    _camera_row(camera),
                )
                self._index(db, cursor.lastrowid, camera.lat, camera.lon)
                added.append((cursor.lastrowid, camera))
        for row_id, camera in added:
            self._remember(row_id, camera.registration_id, camera)

    def camera(self, registration_id: str) -> CameraRecord | None:
        row = self._db.execute(
            f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE registration_id = ?",  # noqa: S608
            (registration_id,),
        ).fetchone()
        return None if row is None else _camera(row)

    def cameras(self, registration_ids: list[str]) -> dict[str, CameraRecord]:
        """Full records of the named cameras (unknown ids are left out)."""
        found: dict[str, CameraRecord] = {}
        for start in range(0, len(registration_ids), 500):
            chunk = registration_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_CAMERA_COLUMNS} FROM cameras "  # noqa: S608 (placeholders only)
                f"WHERE registration_id IN ({marks})",
                chunk,
            ):
                found[row[0]] = _camera(row)
        return found

    def search(
        self, boxes: Iterable[tuple[float, float, float, float]], centre: GeoPoint, radius_m: float
    ) -> list[AreaHit]:
        """Registered cameras within `radius_m` of `centre`; `boxes` cover the circle."""
        row_ids: list[int] = []
        for min_lat, min_lon, max_lat, max_lon in boxes:
            row_ids.extend(
                row_id
                for (row_id,) in self._db.execute(
                    "SELECT id FROM camera_index "
                    "WHERE max_lat >= ? AND min_lat <= ? AND max_lon >= ? AND min_lon <= ?",
                    (min_lat, max_lat, min_lon, max_lon),
                )
            )
        return self._area_index().within(sorted(set(row_ids)), centre, radius_m)

    def _area_index(self) -> AreaIndex:
        """The in-memory columns behind the R*Tree, loaded on first search."""
        if self._area is None:
            area = AreaIndex()
            for row_id, registration_id, gateway_id, lat, lon in self._db.execute(
                "SELECT c.id, c.registration_id, c.gateway_id, c.lat, c.lon "
                "FROM camera_index i JOIN cameras c ON c.id = i.id"
            ):
                area.put(row_id, registration_id, gateway_id, lat, lon)
            self._area = area
        return self._area

    def _remember(self, row_id: int | None, registration_id: str, camera: CameraRecord) -> None:
        """Keep the loaded area index in step with a committed change."""
        if self._area is not None and row_id is not None:
            self._area.put(row_id, registration_id, camera.gateway_id, camera.lat, camera.lon)

    def _update_camera_row(
        self, db: sqlite3.Connection, row_id: int, camera: CameraRecord, envelope: dict[str, Any]
    ) -> None:
        db.execute(
            "UPDATE cameras SET name = ?, lat = ?, lon = ?, precision = ?, status = ?, "
            "updated_at = ?, envelope = ? WHERE id = ?",
            (
                camera.name,
                camera.lat,
                camera.lon,
                camera.precision,
                CameraStatus.REGISTERED.value,
                camera.updated_at,
                json.dumps(envelope),
                row_id,
            ),
        )

    @staticmethod
    def _index(db: sqlite3.Connection, row_id: int | None, lat: float, lon: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO camera_index (id, min_lat, max_lat, min_lon, max_lon) "
            "VALUES (?, ?, ?, ?, ?)",
            (row_id, lat, lat, lon, lon),
        )

    # -- footage requests ---------------------------------------------------------------

    def add_requests(self, requests: Iterable[IssuedRequest]) -> None:
        """Store a batch of issued requests atomically (one per gateway)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO footage_requests (request_id, gateway_id, case_number, legal_basis, "
                "incident_type, registration_ids, envelope, issued_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.request_id,
                        r.gateway_id,
                        r.case_number,
                        r.legal_basis,
                        r.incident_type,
                        json.dumps(list(r.registration_ids)),
                        json.dumps(r.envelope),
                        format_time(r.issued_at),
                    )
                    for r in requests
                ],
            )

    def feed(
        self, gateway_id: str, cursor: int, limit: int = 100
    ) -> list[tuple[int, dict[str, Any]]]:
        """A gateway's requests with a sequence number above `cursor`, oldest first."""
        rows = self._db.execute(
            "SELECT seq, envelope FROM footage_requests WHERE gateway_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (gateway_id, cursor, limit),
        ).fetchall()
        return [(int(seq), json.loads(envelope)) for seq, envelope in rows]

    def request_target(self, request_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The gateway and registration ids a request was sent for."""
        row = self._db.execute(
            "SELECT gateway_id, registration_ids FROM footage_requests WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        return None if row is None else (row[0], tuple(json.loads(row[1])))

    def add_decline_reply(
        self,
        request_id: str,
        gateway_id: str,
        registration_ids: tuple[str, ...],
        reply: str,
        sent_at: datetime,
        received_at: datetime,
        envelope: dict[str, Any],
    ) -> bool:
        """Record a resident's decline reply; False if one was already recorded."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO decline_replies (request_id, gateway_id, registration_ids, "
            "reply, sent_at, received_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                gateway_id,
                json.dumps(list(registration_ids)),
                reply,
                format_time(sent_at),
                format_time(received_at),
                json.dumps(envelope),
            ),
        )
        return cursor.rowcount == 1

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only aggregate queries for the transparency figures."""
        return list(self._db.execute(sql, params).fetchall())


def _camera_row(camera: CameraRecord) -> tuple[Any, ...]:
    return (
        camera.registration_id,
        camera.gateway_id,
        camera.camera_id,
        camera.name,
        camera.lat,
        camera.lon,
        camera.precision,
        camera.status.value,
        camera.registered_at,
        camera.updated_at,
    )


def _camera(row: tuple[Any, ...]) -> CameraRecord:
    return CameraRecord(
        registration_id=row[0],
        gateway_id=row[1],
        camera_id=row[2],
        name=row[3],
        lat=row[4],
        lon=row[5],
        precision=row[6],
        status=CameraStatus(row[7]),
        registered_at=row[8],
        updated_at=row[9],
    )
