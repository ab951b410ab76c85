"""The service's tables in gateway.db: settings, the pinned city, and cameras."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from protocol.messages import MAX_RADIUS_M, MAX_WINDOW
from protocol.timeutil import format_time, parse_time, utcnow

from .config import GatewayError
from .database import connect, create_tables
from .verification import Caps

Polygon = tuple[tuple[float, float], ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrollment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    gateway_id TEXT NOT NULL, city_id TEXT NOT NULL, city_name TEXT NOT NULL,
    city_url TEXT NOT NULL, signing_key TEXT NOT NULL, encryption_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL, enrolled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cameras (
    camera_id TEXT PRIMARY KEY, registration_id TEXT UNIQUE, name TEXT NOT NULL,
    source TEXT NOT NULL, device_id TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
    precision TEXT NOT NULL, masks TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
"""


class StoreError(GatewayError):
    """The gateway database holds something it should not."""


class CameraStatus(StrEnum):
    REGISTERED = "registered"
    PENDING = "pending"
    WITHDRAWN = "withdrawn"
    ERROR = "error"


@dataclass(frozen=True)
class PinnedCity:
    """The city this gateway enrolled with; its keys are trusted, nothing else is."""

    gateway_id: str
    city_id: str
    name: str
    url: str
    signing_key: str  # base64url raw Ed25519 public key
    encryption_key: str  # base64url raw X25519 public key
    fingerprint: str  # display fingerprint of the signing key
    enrolled_at: datetime


@dataclass(frozen=True)
class CameraRecord:
    """A camera as the gateway knows it; the EXACT location stays here (the city may get less)."""

    camera_id: str
    registration_id: str | None
    name: str
    source: str
    device_id: str
    lat: float
    lon: float
    precision: str  # what the city was sent: "block" | "exact"
    masks: tuple[Polygon, ...]
    status: CameraStatus
    created_at: datetime
    updated_at: datetime


class GatewayStore:
    """Settings, enrollment and cameras; a short-lived connection per call (thread-safe)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        create_tables(db_path, _SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.db_path)

    # settings -----------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def privacy_mode(self) -> bool:
        return self.get_setting("privacy_mode", "0") == "1"

    def set_privacy_mode(self, enabled: bool) -> None:
        self.set_setting("privacy_mode", "1" if enabled else "0")

    def caps(self) -> Caps:
        """The limits the resident set (never looser than the protocol's); defaults otherwise."""
        window = self.get_setting("caps.max_window_s")
        radius = self.get_setting("caps.max_radius_m")
        return Caps(
            max_window=timedelta(seconds=float(window)) if window else MAX_WINDOW,
            max_radius_m=float(radius) if radius else MAX_RADIUS_M,
        )

    def set_caps(self, caps: Caps) -> None:
        self.set_setting("caps.max_window_s", str(caps.max_window.total_seconds()))
        self.set_setting("caps.max_radius_m", str(caps.max_radius_m))

    @property
    def feed_cursor(self) -> int:
        return int(self.get_setting("feed_cursor", "0") or 0)

    def set_feed_cursor(self, cursor: int) -> None:
        self.set_setting("feed_cursor", str(cursor))

    @property
    def name(self) -> str:
        return self.get_setting("name", "SafeSmart gateway") or "SafeSmart gateway"

    # enrollment ---------------------------------------------------------------
    def pinned_city(self) -> PinnedCity | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT gateway_id, city_id, city_name, city_url, signing_key, encryption_key, "
                "fingerprint, enrolled_at FROM enrollment WHERE id = 1"
            ).fetchone()
        if row is None:
            return None
        gateway_id, city_id, name, url, signing_key, encryption_key, fingerprint = map(str, row[:7])
        return PinnedCity(
            gateway_id,
            city_id,
            name,
            url,
            signing_key,
            encryption_key,
            fingerprint,
            enrolled_at=parse_time(row[7]),
        )

    def pin_city(self, city: PinnedCity) -> None:
        """Record (or replace) the enrolled city; a new city resets the feed cursor."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM enrollment")
            conn.execute(
                "INSERT INTO enrollment VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    city.gateway_id,
                    city.city_id,
                    city.name,
                    city.url,
                    city.signing_key,
                    city.encryption_key,
                    city.fingerprint,
                    format_time(city.enrolled_at),
                ),
            )
            conn.execute("DELETE FROM settings WHERE key = 'feed_cursor'")
            conn.execute("COMMIT")

    # cameras ------------------------------------------------------------------
    def add_camera(self, camera: CameraRecord) -> None:
        with self._connect() as conn:
            try:
                conn.execute(
                    "INSERT INTO cameras VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        camera.camera_id,
                        camera.registration_id,
                        camera.name,
                        camera.source,
                        camera.device_id,
                        camera.lat,
                        camera.lon,
                        camera.precision,
                        json.dumps([list(map(list, m)) for m in camera.masks]),
                        camera.status.value,
                        format_time(camera.created_at),
                        format_time(camera.updated_at),
                    ),
                )
            except sqlite3.IntegrityError as err:
                raise StoreError(f"camera {camera.name!r} is already registered") from err

    def set_camera_status(
        self, camera_id: str, status: CameraStatus, now: datetime | None = None
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE cameras SET status = ?, updated_at = ? WHERE camera_id = ?",
                (status.value, format_time(now or utcnow()), camera_id),
            )

    def cameras(self, *, include_withdrawn: bool = True) -> list[CameraRecord]:
        query = "SELECT * FROM cameras"
        if not include_withdrawn:
            query += " WHERE status != 'withdrawn'"
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY created_at, name").fetchall()
        return [_camera(row) for row in rows]

    def registered_ids(self) -> set[str]:
        """Registration ids the city may address requests to."""
        return {
            c.registration_id
            for c in self.cameras(include_withdrawn=False)
            if c.registration_id and c.status is CameraStatus.REGISTERED
        }

    def camera_by_registration(self, registration_id: str) -> CameraRecord | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM cameras WHERE registration_id = ?", (registration_id,)
            ).fetchone()
        return _camera(row) if row else None

    def find_camera(self, key: str) -> CameraRecord | None:
        """A camera by name, camera id or registration id."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM cameras WHERE status != 'withdrawn' AND "
                "(name = ? OR camera_id = ? OR registration_id = ?)",
                (key, key, key),
            ).fetchone()
        return _camera(row) if row else None


def _camera(row: tuple[object, ...]) -> CameraRecord:
    masks = tuple(tuple((float(x), float(y)) for x, y in poly) for poly in json.loads(str(row[8])))
    return CameraRecord(
        camera_id=str(row[0]),
        registration_id=None if row[1] is None else str(row[1]),
        name=str(row[2]),
        source=str(row[3]),
        device_id=str(row[4]),
        lat=float(str(row[5])),
        lon=float(str(row[6])),
        precision=str(row[7]),
        masks=masks,
        status=CameraStatus(str(row[9])),
        created_at=parse_time(row[10]),
        updated_at=parse_time(row[11]),
    )
