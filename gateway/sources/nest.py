"""Nest cameras through the SDM API (google-nest-sdm): event media captured as it arrives.

SDM has no history API: a window can only be served from what the gateway captured itself
(clip previews or event images fetched within ~30 s of each event) and kept for the
resident's retention period.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from google_nest_sdm.device import Device
from google_nest_sdm.device_manager import DeviceManager
from google_nest_sdm.event import EventMessage
from google_nest_sdm.event_media import CachePolicy
from google_nest_sdm.exceptions import ApiForbiddenException, GoogleNestException
from google_nest_sdm.google_nest_api import GoogleNestAPI

from protocol.timeutil import TimeWindow, format_time, utcnow

from .base import (
    NoFootageError,
    Recording,
    SourceCamera,
    SourceError,
    SourceUnavailableError,
    UnknownCameraError,
)
from .containers import UnreadableRecordingError, probe_container
from .nest_auth import SDM_API_URL, NestAuth, NestProject
from .nest_cache import CachedMedia, MediaKind, NestMediaCache, short_device_id
from .nest_devices import is_camera, label, media_kind, model_note
from .nest_events import PUBSUB_URL, EventPuller, MalformedEventError, check_subscription

_LOGGER = logging.getLogger(__name__)
_EVENTS_KEPT_PER_DEVICE = 5000  # the library's model; media retention is by age, below
_IMAGE_SPAN_S = 1.0  # an event image stands for the second it was taken


class NestSource:
    """Serves windows from Nest event media captured by this gateway."""

    kind = "nest"

    def __init__(
        self,
        token_path: Path,
        cache_dir: Path,
        project: NestProject,
        *,
        name: str = "nest",
        retention_days: int = 30,
        session: aiohttp.ClientSession | None = None,
        api_host: str = SDM_API_URL,
        subscription: str | None = None,
        pubsub_url: str = PUBSUB_URL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if retention_days < 1:
            raise SourceError("Nest retention must be at least one day.")
        self.name = name
        self.cache = NestMediaCache(cache_dir)
        self.retention = timedelta(days=retention_days)
        self._token_path = token_path
        self._project = project
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._api_host = api_host
        self._subscription = check_subscription(subscription) if subscription else None
        self._pubsub_url = pubsub_url
        self._clock = clock
        self._manager: DeviceManager | None = None
        self._auth: NestAuth | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the HTTP session the source opened itself."""
        if self._own_session is not None:
            await self._own_session.close()
        self._own_session = None
        self._manager = None

    async def cameras(self) -> list[SourceCamera]:
        """Nest devices with a camera, with the span of media captured so far."""
        manager = await self._connected()
        cameras = []
        for device in manager.devices.values():
            if not is_camera(device):
                continue
            device_id = short_device_id(device.name)
            media = self.cache.media(device_id)
            cameras.append(
                SourceCamera(
                    device_id,
                    label(device),
                    media[0].timestamp if media else None,
                    media[-1].timestamp if media else None,
                    model=model_note(device),
                )
            )
        return sorted(cameras, key=lambda c: (c.label, c.device_id))

    async def connect(self) -> None:
        """Sign in and list the devices, if not done yet (SourceError if that fails)."""
        await self._connected()

    async def watch(self, idle_s: float = 1.0) -> None:
        """Receive event messages from the configured Pub/Sub subscription forever."""
        if self._subscription is None:
            raise SourceError(
                f"The Nest source '{self.name}' has no Pub/Sub subscription, so it cannot "
                "capture events; add one with --subscription."
            )
        await self._connected()
        assert self._auth is not None
        session = self._session or self._own_session
        assert session is not None
        puller = EventPuller(
            self._subscription, session, self._auth.async_get_access_token,
            self.handle_message, pubsub_url=self._pubsub_url,
        )
        await puller.run(idle_s=idle_s)

    async def handle_message(self, payload: dict[str, Any]) -> None:
        """Hand one Pub/Sub event message (its decoded JSON data) to the library's handling."""
        manager = await self._connected()
        assert self._auth is not None
        try:
            event = EventMessage.create_event(payload, self._auth)
        except (LookupError, ValueError, TypeError) as exc:
            raise MalformedEventError("not an SDM event message") from exc
        sessions = event.event_sessions or {}
        device = manager.devices.get(event.resource_update_name or "")
        await manager.async_handle_event(event)
        if device is None or not is_camera(device):
            return
        self._note_missed(device, sessions)
        self.cache.purge(self._clock() - self.retention)

    async def recordings(self, device_id: str, window: TimeWindow) -> list[Recording]:
        """Captured media of `device_id` overlapping `window`, oldest first."""
        manager = await self._connected()
        device = self._device(manager, device_id)
        kind = media_kind(device)
        if kind is None:
            raise NoFootageError(
                f"Nest keeps no history for '{label(device)}', and this model sends no event "
                "clips or images through the Nest API, so there is nothing to share."
            )
        oldest_kept = self._clock() - self.retention
        self.cache.purge(oldest_kept)
        found = []
        for item in self.cache.media(device_id):
            recording = await asyncio.to_thread(self._recording, device, item)
            if recording is not None and window.overlaps(recording.start, recording.end):
                found.append(recording)
        if found:
            # Also from before capture began: Pub/Sub keeps the messages of events that
            # happened while the gateway was not pulling, and their media may still be had.
            return found
        since = self.cache.capturing_since(device_id)
        if since is None or window.end <= since:
            when = format_time(since) if since else "now"
            raise NoFootageError(
                f"Nest keeps no history for this model; only events captured since {when} "
                "are available."
            )
        self._explain_gap(device, window, oldest_kept)
        return found

    async def fetch(self, recording: Recording, dest_dir: Path) -> Path:
        """Copy the captured clip or image into `dest_dir`."""
        for item in self.cache.media(recording.device_id):
            if item.path.name == recording.recording_id:
                return await asyncio.to_thread(_copy, item.path, dest_dir)
        raise NoFootageError(
            f"The captured Nest media {recording.recording_id} is gone: it passed the "
            f"{self.retention.days}-day retention set for source '{self.name}'."
        )

    async def _connected(self) -> DeviceManager:
        async with self._lock:
            if self._manager is not None:
                return self._manager
            session = self._session
            if session is None:
                session = self._own_session = aiohttp.ClientSession()
            self._auth = NestAuth(session, self._token_path, self._project, self._api_host)
            policy = CachePolicy(
                event_cache_size=_EVENTS_KEPT_PER_DEVICE, fetch=True, store=self.cache
            )
            manager = DeviceManager(GoogleNestAPI(self._auth, self._project.project_id), policy)
            try:
                await manager.async_refresh()
            except ApiForbiddenException as exc:
                raise SourceError(
                    "Google refused the device list: check that the Device Access project "
                    "still has access to your home (Nest partner connections)."
                ) from exc
            except GoogleNestException as exc:
                raise SourceUnavailableError(
                    "The Nest API could not be reached; try again in a few minutes."
                ) from exc
            now = self._clock()
            for device in manager.devices.values():
                if is_camera(device):
                    self.cache.mark_capturing(short_device_id(device.name), now)
            self._manager = manager
            return manager

    def _device(self, manager: DeviceManager, device_id: str) -> Device:
        for device in manager.devices.values():
            if short_device_id(device.name) == device_id and is_camera(device):
                return device
        raise UnknownCameraError(
            f"The Nest source '{self.name}' has no camera with id {device_id}; run "
            "'safesmart-gateway source list' to see its cameras."
        )

    def _recording(self, device: Device, item: CachedMedia) -> Recording | None:
        if item.kind is MediaKind.CLIP_PREVIEW:
            try:
                length = probe_container(item.path).duration_s
            except UnreadableRecordingError as exc:
                _LOGGER.warning("Skipping captured Nest clip %s: %s", item.path.name, exc)
                return None
        else:
            length = _IMAGE_SPAN_S
        clip = item.kind is MediaKind.CLIP_PREVIEW
        return Recording(
            source="nest",
            device_id=item.device_id,
            recording_id=item.path.name,
            start=item.timestamp,
            end=item.timestamp + timedelta(seconds=length),
            metadata={
                "device": label(device),
                "media": "clip_preview" if clip else "event_image",
                "content_type": "video/mp4" if clip else "image/jpeg",
                "time_zone": "UTC",
                "clock_offset_s": "0",
            },
        )

    def _note_missed(self, device: Device, sessions: dict[str, dict[str, Any]]) -> None:
        if media_kind(device) is None:
            return
        device_id = short_device_id(device.name)
        captured = {m.timestamp for m in self.cache.media(device_id)}
        for events in sessions.values():
            for event in events.values():
                if event.timestamp.astimezone(UTC) in captured:
                    continue
                reason = (
                    "the event reached the gateway after Nest had dropped its media "
                    "(event images last 30 seconds, clip previews 15 minutes)"
                    if event.is_expired
                    else "Nest did not hand over the event's media"
                )
                self.cache.record_missed(device_id, event.timestamp, reason)

    def _explain_gap(self, device: Device, window: TimeWindow, oldest_kept: datetime) -> None:
        missed = [
            (moment, reason)
            for moment, reason in self.cache.missed(short_device_id(device.name))
            if window.start <= moment < window.end
        ]
        if missed:
            raise NoFootageError(
                f"Nest reported {len(missed)} event(s) from '{label(device)}' in this window, "
                f"but their media expired before it could be captured ({missed[0][1]})."
            )
        if window.start < oldest_kept:
            raise NoFootageError(
                f"Captured Nest media is kept for {self.retention.days} days; "
                "this window is older than that."
            )


def _copy(source: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"nest-{source.name}"
    partial = dest_dir / f".{target.name}.partial"
    shutil.copyfile(source, partial)
    partial.replace(target)
    return target
