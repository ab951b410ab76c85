"""The on-disk cache of Nest event media (clip previews, event images) the gateway captured."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from google_nest_sdm.event import ImageEventBase
from google_nest_sdm.event_media import EventMediaStore

from .token_store import read_private_json, write_private_json

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_MEDIA_NAME = re.compile(
    r"^(?P<ts>\d{8}T\d{12})Z_(?P<kind>clip|image)_(?P<digest>[0-9a-f]{16})\.(?:mp4|jpg)$"
)
_TS_FORMAT = "%Y%m%dT%H%M%S%f"


class MediaKind(StrEnum):
    """What a Nest camera model gives the gateway per event."""

    CLIP_PREVIEW = "clip"  # a short MP4 preview of the event (battery and newer cameras)
    EVENT_IMAGE = "image"  # one JPEG snapshot per event (older wired cameras, Nest Hello)


@dataclass(frozen=True)
class CachedMedia:
    """One captured file: whose, when, and what kind."""

    device_id: str
    timestamp: datetime
    kind: MediaKind
    path: Path


def short_device_id(device_name: str) -> str:
    """The last segment of `enterprises/<project>/devices/<id>`: the gateway's device id."""
    return device_name.rsplit("/", 1)[-1]


class NestMediaCache(EventMediaStore):
    """An EventMediaStore writing the library's event model and media files under `root`.

    Media file names carry the device, the event time and the kind, so windows are served by
    listing a directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._model = root / "events.json"
        self._state = root / "state.json"

    # --- the library's store interface --------------------------------------------------
    async def async_load(self) -> dict[Any, Any] | None:
        data = read_private_json(self._model)
        return data if isinstance(data, dict) else None

    async def async_save(self, data: dict[Any, Any]) -> None:
        write_private_json(self._model, data)

    def get_media_key(self, device_id: str, event: ImageEventBase) -> str:
        return self.get_image_media_key(device_id, event)

    def get_image_media_key(self, device_id: str, event: ImageEventBase) -> str:
        return _key(device_id, event, MediaKind.EVENT_IMAGE, event.event_id)

    def get_clip_preview_media_key(self, device_id: str, event: ImageEventBase) -> str:
        return _key(device_id, event, MediaKind.CLIP_PREVIEW, "")

    def get_clip_preview_thumbnail_media_key(
        self, device_id: str, event: ImageEventBase
    ) -> str | None:
        return None  # thumbnails need a transcoder; the gateway shares the clip itself

    async def async_load_media(self, media_key: str) -> bytes | None:
        path = self._path(media_key)
        return path.read_bytes() if path is not None and path.is_file() else None

    async def async_save_media(self, media_key: str, content: bytes) -> None:
        path = self._path(media_key)
        if path is None:
            raise ValueError("unexpected media key")
        write_private_bytes(path, content)

    async def async_remove_media(self, media_key: str) -> None:
        path = self._path(media_key)
        if path is not None:
            path.unlink(missing_ok=True)

    # --- what the source reads --------------------------------------------------------------
    def media(self, device_id: str) -> list[CachedMedia]:
        """Captured media of one device, oldest first."""
        folder = self.root / "media" / device_id
        if not _SAFE_ID.match(device_id) or not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            match = _MEDIA_NAME.match(path.name)
            if match:
                moment = datetime.strptime(match["ts"], _TS_FORMAT).replace(tzinfo=UTC)
                found.append(CachedMedia(device_id, moment, MediaKind(match["kind"]), path))
        return sorted(found, key=lambda m: (m.timestamp, m.path.name))

    def purge(self, before: datetime) -> int:
        """Delete media captured before `before` (the retention limit); return how many."""
        removed = 0
        media_root = self.root / "media"
        if not media_root.is_dir():
            return 0
        for folder in media_root.iterdir():
            for item in self.media(folder.name):
                if item.timestamp < before:
                    item.path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def capturing_since(self, device_id: str) -> datetime | None:
        """When the gateway began capturing this device's events."""
        value = self._load_state().get("capturing_since", {}).get(device_id)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    def mark_capturing(self, device_id: str, now: datetime) -> None:
        """Record the start of capture for a device seen for the first time."""
        state = self._load_state()
        since = state.setdefault("capturing_since", {})
        if device_id not in since:
            since[device_id] = now.astimezone(UTC).isoformat()
            write_private_json(self._state, state)

    def record_missed(self, device_id: str, timestamp: datetime, reason: str) -> None:
        """Remember an event whose media could not be captured, to explain gaps later."""
        state = self._load_state()
        missed = state.setdefault("missed", {}).setdefault(device_id, [])
        missed.append({"timestamp": timestamp.astimezone(UTC).isoformat(), "reason": reason})
        del missed[:-1000]  # bounded: the newest thousand explain recent gaps
        write_private_json(self._state, state)

    def missed(self, device_id: str) -> list[tuple[datetime, str]]:
        """Events of a device whose media never arrived, with the reason."""
        entries = self._load_state().get("missed", {}).get(device_id, [])
        return [(datetime.fromisoformat(e["timestamp"]), str(e["reason"])) for e in entries]

    def _load_state(self) -> dict[str, Any]:
        data = read_private_json(self._state)
        return data if isinstance(data, dict) else {}

    def _path(self, media_key: str) -> Path | None:
        device, _, name = media_key.partition("/")
        if not _SAFE_ID.match(device) or not _MEDIA_NAME.match(name):
            return None
        return self.root / "media" / device / name


def _key(device_name: str, event: ImageEventBase, kind: MediaKind, extra: str) -> str:
    device = short_device_id(device_name)
    if not _SAFE_ID.match(device):
        device = hashlib.sha256(device_name.encode()).hexdigest()[:32]
    stamp = event.timestamp.astimezone(UTC).strftime(_TS_FORMAT)
    digest = hashlib.sha256(f"{event.event_session_id}/{extra}".encode()).hexdigest()[:16]
    suffix = "mp4" if kind is MediaKind.CLIP_PREVIEW else "jpg"
    return f"{device}/{stamp}Z_{kind}_{digest}.{suffix}"


def write_private_bytes(path: Path, content: bytes) -> None:
    """Write bytes atomically into an owner-only file (footage is as private as tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    temp.replace(path)
