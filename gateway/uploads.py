"""The persistent upload queue: sealed packages delivered exactly once (client: tusclient.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from yarl import URL

from gateway.feed import Backoff
from gateway.packaging import SealedClip
from gateway.tusclient import LocationLostError, RetryableError, TusClient, UploadError
from protocol.timeutil import format_time, utcnow

__all__ = [
    "LocationLostError", "RetryableError", "UploadError", "UploadQueue", "UploadState",
    "UploadStatus",
]  # fmt: skip
DEFAULT_BACKOFF = Backoff(initial_s=1.0, max_s=60.0)
SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_queue (
    upload_key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    package_path TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    total_bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    location TEXT,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    acknowledgement_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


class UploadState(StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class UploadStatus:
    """Where one sealed clip's delivery stands."""

    upload_key: str
    request_id: str
    registration_id: str
    part: int  # of `parts` clips in the camera's answer
    parts: int
    state: UploadState
    bytes_sent: int
    total_bytes: int
    attempts: int
    error: str | None
    acknowledgement: dict[str, Any] | None


class UploadQueue:
    """Delivers sealed clips to the city exactly once, across restarts and outages."""

    def __init__(
        self,
        db_path: Path,
        *,
        city_url: str,
        gateway_id: str,
        device_key: Ed25519PrivateKey,
        city_signing_key: Ed25519PublicKey,
        patch_size: int = 4 * 2**20,
        on_change: Callable[[UploadStatus], Awaitable[None]] | None = None,
        session: aiohttp.ClientSession | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.db_path, self.on_change, self._session = db_path, on_change, session
        self.backoff = backoff
        self._tus = TusClient(URL(city_url), gateway_id, device_key, city_signing_key, patch_size)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db = sqlite3.connect(db_path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed enqueue survives power loss
        self._db.executescript(SCHEMA)
        self._db_lock = threading.Lock()  # enqueue may come from another thread

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._db_lock:
            yield self._db

    def enqueue(self, sealed: SealedClip) -> UploadStatus:
        """Persist a sealed clip for delivery (committed on return); a repeat is a no-op."""
        now = format_time(utcnow())
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO upload_queue (upload_key, request_id, registration_id, "
                "package_path, manifest_json, total_bytes, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sealed.upload_key, sealed.request_id, sealed.registration_id,
                 str(sealed.package_path), json.dumps(sealed.manifest.to_json()),
                 sealed.ciphertext_size, UploadState.QUEUED.value, now, now),
            )
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)
        return self._statuses("WHERE upload_key = ?", (sealed.upload_key,))[0]

    async def requeue_failed(self, request_id: str, registration_id: str) -> int:
        """Put a camera's failed uploads back in the queue (the resident asked to retry).

        The spooled package, its Location and offset are kept: the upload resumes where it
        stopped, under the same idempotency key, and is never sealed again.
        """
        failed = [s.upload_key for s in self.status(request_id)
                  if s.registration_id == registration_id and s.state is UploadState.FAILED]
        for key in failed:
            await self._record(key, state=UploadState.QUEUED, error=None)
        if failed and self._loop is not None and self._wake is not None:
            self._wake.set()
        return len(failed)

    def status(self, request_id: str | None = None) -> list[UploadStatus]:
        """Every queued upload (of one request, if given), oldest first."""
        if request_id is None:
            return self._statuses("", ())
        return self._statuses("WHERE request_id = ?", (request_id,))

    def _statuses(self, where: str, params: tuple[str, ...]) -> list[UploadStatus]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM upload_queue {where} ORDER BY created_at, upload_key",  # noqa: S608
                params,
            ).fetchall()
        return [_status(row) for row in rows]

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver everything undelivered until `stop` is set, backing off on failures."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        session = self._session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
        )
        failures: dict[str, int] = {}
        next_try: dict[str, float] = {}
        try:
            while not stop.is_set():
                self._wake.clear()
                now = self._loop.time()
                pending = [s.upload_key for s in self.status()
                           if s.state in (UploadState.QUEUED, UploadState.UPLOADING)]
                for key in pending:
                    if stop.is_set() or next_try.get(key, 0.0) > now:
                        continue
                    try:
                        await self._deliver(session, key, stop)
                        failures.pop(key, None)
                        next_try.pop(key, None)
                    except RetryableError as err:
                        failures[key] = failures.get(key, 0) + 1
                        await self._record(key, error=str(err))
                        # Full jitter spreads many gateways' retries after a city outage.
                        next_try[key] = self._loop.time() + self.backoff.delay(failures[key])
                    except UploadError as err:
                        await self._record(key, state=UploadState.FAILED, error=str(err))
                waits = [t - self._loop.time() for k, t in next_try.items() if k in pending]
                timeout = max(0.0, min(waits)) if waits else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._wake), timeout)
        finally:
            self._loop = self._wake = None
            if self._session is None:
                await session.close()

    async def _deliver(self, session: aiohttp.ClientSession, key: str,
                       stop: asyncio.Event) -> None:
        """Create or resume one upload, PATCH what the city lacks, then fetch its receipt."""
        row, tus = self._row(key), self._tus
        # A new attempt: the last one's error no longer describes the upload.
        await self._record(
            key, state=UploadState.UPLOADING, attempts=row["attempts"] + 1, error=None
        )
        location, total = row["location"], row["total_bytes"]
        try:
            offset = await tus.head(session, location) if location else None
        except LocationLostError:
            offset = None
        if offset is None:
            location, offset = await tus.create(session, key, row["manifest_json"], total)
            await self._record(key, location=location, bytes_sent=offset)
        while True:
            while offset < total:
                if stop.is_set():  # stopping between chunks; the next run resumes here
                    return
                offset = await tus.patch(session, location, Path(row["package_path"]), offset)
                await self._record(key, bytes_sent=offset)
            ack = await tus.receipt(session, location, key, row["manifest_json"])
            if ack is not None:
                break
            offset = await tus.head(session, location)
            if offset >= total:
                raise RetryableError("The city holds every byte but has not verified them yet.")
        await self._record(key, state=UploadState.DELIVERED, error=None,
                           acknowledgement_json=json.dumps(ack))
        # Only now may the ciphertext go: the city has signed for exactly these bytes.
        await asyncio.to_thread(Path(row["package_path"]).unlink, missing_ok=True)

    def _row(self, key: str) -> sqlite3.Row:
        with self._connect() as conn:
            row: sqlite3.Row = conn.execute(
                "SELECT * FROM upload_queue WHERE upload_key = ?", (key,)).fetchone()
        return row

    async def _record(self, key: str, **changes: Any) -> None:
        """Persist changes to one upload, then tell the listener."""
        changes["updated_at"] = format_time(utcnow())
        columns = ", ".join(f"{name} = ?" for name in changes)
        with self._connect() as conn:
            conn.execute(f"UPDATE upload_queue SET {columns} WHERE upload_key = ?",  # noqa: S608
                         (*changes.values(), key))
        if self.on_change is not None:
            await self.on_change(_status(self._row(key)))


def _status(row: sqlite3.Row) -> UploadStatus:
    ack = row["acknowledgement_json"]
    # The part is read from the signed manifest the row holds (queues from before multi-part
    # answers hold single clips: part 1 of 1).
    manifest = json.loads(row["manifest_json"]).get("body", {})
    return UploadStatus(
        upload_key=row["upload_key"], request_id=row["request_id"],
        registration_id=row["registration_id"], part=int(manifest.get("part", 1)),
        parts=int(manifest.get("parts", 1)), state=UploadState(row["state"]),
        bytes_sent=row["bytes_sent"], total_bytes=row["total_bytes"], attempts=row["attempts"],
        error=row["error"], acknowledgement=json.loads(ack) if ack else None,
    )


async def _first(*events: asyncio.Event) -> None:
    """Return as soon as any of `events` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
