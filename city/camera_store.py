"""The camera registry's tables: cameras and their R*Tree index, searched by area."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from protocol.geo import GeoPoint
from protocol.timeutil import format_time

from .area_index import AreaHit, AreaIndex
from .database import Database
from .records import CameraRecord, CameraStatus

_CAMERA_COLUMNS = (
    "registration_id, gateway_id, camera_id, name, lat, lon, precision, status, "
    "registered_at, updated_at"
)


class CameraStore(Database):
    """Registering, updating, withdrawing and finding cameras."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._area: AreaIndex | None = None

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
