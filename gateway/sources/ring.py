"""Ring doorbells and cameras through ring-doorbell: history, downloads, 2FA sign-in."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from ring_doorbell import Auth, AuthenticationError, Requires2FAError, Ring, RingDoorBell, RingError

from protocol.timeutil import TimeWindow

from .base import (
    EncryptedFootageError,
    NoFootageError,
    ReauthRequiredError,
    Recording,
    SourceCamera,
    SourceError,
    SourceUnavailableError,
    UnknownCameraError,
)
from .containers import UnreadableRecordingError, probe_container
from .ring_calls import RecordingNotFoundError, RecordingNotReadyError, RetryPolicy, call_ring
from .token_store import TokenStore

USER_AGENT = "SafeSmart/0.1"
# Ring clips last at most 120 s; history entries carry no length, so overlap uses the maximum.
MAX_CLIP_S = 120.0
# A recording is streamed to disk in chunks of this size, never held whole in memory; a media
# host that stalls this long, or sends more than a clip can hold, ends the attempt.
CHUNK = 1 << 20
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
MAX_RECORDING_BYTES = 1 << 30


class TwoFactorRequiredError(SourceError):
    """Ring sent a verification code; sign in again with it."""


async def ring_sign_in(
    token_path: Path,
    username: str,
    password: str,
    otp: str | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
) -> None:
    """Exchange e-mail, password and (second round) the 2FA code for a token kept in `token_path`.

    Raises TwoFactorRequiredError on the first round when Ring wants a code.
    """
    store = TokenStore(token_path, "Ring")
    hardware_id = _hardware_id(store)
    auth = Auth(USER_AGENT, None, store.save_token, hardware_id, http_client_session=session)
    try:
        await auth.async_fetch_token(username, password, otp)
    except Requires2FAError as exc:
        raise TwoFactorRequiredError(
            "Ring sent a verification code to your phone or e-mail; enter it to finish signing in."
        ) from exc
    except AuthenticationError as exc:
        raise ReauthRequiredError(
            "Ring did not accept this e-mail, password or verification code; check them and retry."
        ) from exc
    except (RingError, aiohttp.ClientError, TimeoutError) as exc:
        raise SourceUnavailableError("Ring could not be reached to sign in; try again.") from exc
    finally:
        if session is None:
            await auth.async_close()


def _hardware_id(store: TokenStore) -> str:
    # Ring ties tokens to a hardware id; keep ours stable across restarts and machines.
    hardware_id = store.state().get("hardware_id")
    if isinstance(hardware_id, str) and hardware_id:
        return hardware_id
    hardware_id = str(uuid.uuid4())
    store.save_field("hardware_id", hardware_id)
    return hardware_id


class RingSource:
    """Recordings from a Ring account: event history paged back, originals downloaded."""

    kind = "ring"

    def __init__(
        self,
        token_path: Path,
        *,
        name: str = "ring",
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 50,
        max_pages: int = 40,
        max_recording_bytes: int = MAX_RECORDING_BYTES,
    ) -> None:
        self.name = name
        self._store = TokenStore(token_path, f"Ring (source '{name}')")
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None  # opened here, closed in close()
        self._retry = retry or RetryPolicy()
        self._page_size = page_size
        self._max_pages = max_pages
        self._max_recording_bytes = max_recording_bytes
        self._ring: Ring | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Release the HTTP session the source opened itself."""
        if self._own_session is not None:
            await self._own_session.close()
            self._session = self._own_session = None
        self._ring = None

    async def cameras(self) -> list[SourceCamera]:
        """The account's video devices (doorbells and cameras)."""
        ring = await self._connected()
        devices = sorted(ring.video_devices(), key=lambda d: (d.name, d.id))
        return [SourceCamera(str(d.id), d.name, model=d.model) for d in devices]

    async def recordings(self, device_id: str, window: TimeWindow) -> list[Recording]:
        """Recordings of `device_id` overlapping `window`, oldest first (history paged back)."""
        ring = await self._connected()
        device = self._device(ring, device_id)
        self._check_footage_possible(ring, device)
        found: list[Recording] = []
        older_than: int | None = None
        for _ in range(self._max_pages):
            page = await call_ring("event history", self._history(device, older_than), self._retry)
            if not page:
                break
            for entry in page:
                recording = self._recording(device, entry)
                if recording is not None and window.overlaps(recording.start, recording.end):
                    found.append(recording)
            oldest = min(_created_at(entry) for entry in page)
            # Pages run newest to oldest: once a page starts before the window, stop.
            if oldest + timedelta(seconds=MAX_CLIP_S) <= window.start:
                break
            older_than = int(page[-1]["id"])
        return sorted(found, key=lambda r: (r.start, r.recording_id))

    def _history(
        self, device: RingDoorBell, older_than: int | None
    ) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        def page() -> Awaitable[list[dict[str, Any]]]:
            return device.async_history(limit=self._page_size, older_than=older_than)

        return page

    async def fetch(self, recording: Recording, dest_dir: Path) -> Path:
        """Download the original MP4 into `dest_dir` (retrying Ring's early 404s), streamed to
        disk a chunk at a time."""
        if not recording.recording_id.isdigit():
            raise SourceError(f"'{recording.recording_id}' is not a Ring recording id.")
        ring = await self._connected()
        device = self._device(ring, recording.device_id)
        self._check_footage_possible(ring, device)
        ding_id = int(recording.recording_id)
        name = f"ring-{device.id}-{ding_id}.mp4"
        await asyncio.to_thread(dest_dir.mkdir, parents=True, exist_ok=True)
        partial = dest_dir / f".{name}.partial"
        try:
            downloaded = await call_ring(
                f"recording {ding_id}",
                lambda: self._download(device, ding_id, partial),
                self._retry,
                retry_not_found=True,
            )
            if not downloaded:
                raise _no_plan(device)
            return await asyncio.to_thread(_keep_checked, partial, dest_dir / name)
        except RecordingNotFoundError as exc:
            raise NoFootageError(
                f"Ring no longer has recording {ding_id} of '{device.name}' (it may have passed "
                "the plan's video history limit, or been deleted in the Ring app)."
            ) from exc
        finally:
            await asyncio.to_thread(partial.unlink, missing_ok=True)

    async def _download(self, device: RingDoorBell, ding_id: int, partial: Path) -> bool:
        """Ask Ring for the recording's media link and stream it into `partial` (False: the
        account has no plan). The link is signed, so the media host gets no Ring token."""
        try:
            url = await device.async_recording_url(ding_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceUnavailableError(
                f"Ring answered without a link to recording {ding_id}; try again later."
            ) from exc
        if url is None:
            return False
        if not url:
            # Ring answers an empty link while it is still preparing the file; ask again.
            raise RecordingNotReadyError
        limit = self._max_recording_bytes
        received = 0
        async with self._http().get(url, timeout=MEDIA_TIMEOUT, raise_for_status=True) as answer:
            with partial.open("wb") as out:
                async for chunk in answer.content.iter_chunked(CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise SourceUnavailableError(
                            f"Ring sent over {limit / (1 << 20):.0f} MiB for recording {ding_id}, "
                            "more than a Ring clip holds; nothing was kept."
                        )
                    await asyncio.to_thread(out.write, chunk)
        return True

    def _http(self) -> aiohttp.ClientSession:
        """The HTTP session Ring is reached through (the one given, or the source's own)."""
        if self._session is None:
            self._session = self._own_session = aiohttp.ClientSession()
        return self._session

    async def _connected(self) -> Ring:
        async with self._lock:
            if self._ring is not None:
                return self._ring
            state = self._store.load()
            auth = Auth(
                USER_AGENT,
                state["token"],
                self._store.save_token,
                _hardware_id(self._store),
                http_client_session=self._http(),
            )
            ring = Ring(auth)
            await call_ring("sign-in session", ring.async_create_session, self._retry)
            await call_ring("device list", ring.async_update_devices, self._retry)
            self._ring = ring
            return ring

    def _device(self, ring: Ring, device_id: str) -> RingDoorBell:
        for device in ring.video_devices():
            if str(device.id) == device_id:
                return device
        raise UnknownCameraError(
            f"The Ring account of source '{self.name}' has no camera with id {device_id}; "
            "run 'safesmart-gateway source list' to see its cameras."
        )

    def _check_footage_possible(self, ring: Ring, device: RingDoorBell) -> None:
        attrs = ring.devices_data.get(device.family, {}).get(device.id, {})
        if _e2ee_enabled(attrs):
            raise EncryptedFootageError(
                f"'{device.name}' has Ring end-to-end encryption on: only your enrolled phones "
                "can decrypt its videos, so the gateway cannot share them. Share from the "
                "Ring app, or turn video encryption off (Control Center) for future events."
            )
        if not device.has_subscription:
            raise _no_plan(device)

    def _recording(self, device: RingDoorBell, entry: dict[str, Any]) -> Recording | None:
        if "id" not in entry or "created_at" not in entry:
            return None
        start = _created_at(entry)
        duration = entry.get("duration")
        known = isinstance(duration, int | float) and duration > 0
        length = float(duration) if isinstance(duration, int | float) and known else MAX_CLIP_S
        status = (entry.get("recording") or {}).get("status")
        return Recording(
            source="ring",
            device_id=str(device.id),
            recording_id=str(entry["id"]),
            start=start,
            end=start + timedelta(seconds=length),
            metadata={
                "device": device.name,
                "model": device.model,
                "event_kind": str(entry.get("kind", "")),
                "recording_status": str(status or ""),
                "end_estimated": "false" if known else "true",
                "time_zone": device.timezone or "UTC",
                "clock_offset_s": "0",
            },
        )


def _no_plan(device: RingDoorBell) -> NoFootageError:
    return NoFootageError(
        f"Ring keeps no recordings for '{device.name}': the account has no Ring Protect "
        "(Ring Home) plan, so only live view exists. Nothing from the past can be shared."
    )


def _e2ee_enabled(attrs: dict[str, Any]) -> bool:
    # Ring's push notifications carry `e2ee_enabled`; device records carry it at the top
    # level or under features/settings depending on the API generation.
    places = (attrs, attrs.get("features") or {}, attrs.get("settings") or {})
    return any(isinstance(p, dict) and p.get("e2ee_enabled") is True for p in places)


def _created_at(entry: dict[str, Any]) -> datetime:
    value = entry["created_at"]
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _keep_checked(partial: Path, target: Path) -> Path:
    try:
        probe_container(partial)
    except UnreadableRecordingError as exc:
        raise UnreadableRecordingError(
            f"Ring sent a file for {target.name} that is not a readable video; try again later."
        ) from exc
    partial.replace(target)
    return target
