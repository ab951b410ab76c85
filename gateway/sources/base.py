"""The interface every footage source implements, and the errors sources raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from protocol.timeutil import TimeWindow


class SourceError(Exception):
    """Footage could not be had; the message is a sentence a resident can act on."""


class SourceUnavailableError(SourceError):
    """The source (camera, cloud account, folder) cannot be reached right now; retry later."""


class NoFootageError(SourceError):
    """The source holds nothing for this window (retention, plan, or model limits)."""


class UnknownCameraError(SourceError):
    """The source has no camera with this device id."""


class ReauthRequiredError(SourceError):
    """The account's sign-in expired and could not be renewed; the resident must sign in again."""


class EncryptedFootageError(NoFootageError):
    """The camera encrypts its recordings end to end, so the source cannot read them."""


@dataclass(frozen=True)
class Recording:
    """One recording a source holds, overlapping a requested window."""

    source: str
    device_id: str
    recording_id: str
    start: datetime
    end: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceCamera:
    """A camera a source knows, with the span of footage it currently holds."""

    device_id: str
    label: str
    footage_start: datetime | None = None
    footage_end: datetime | None = None
    model: str = ""


class FootageSource(Protocol):
    """Lists and fetches original recordings for a camera."""

    kind: str

    async def recordings(self, device_id: str, window: TimeWindow) -> list[Recording]:
        """Recordings of `device_id` that overlap `window`, oldest first."""
        ...

    async def fetch(self, recording: Recording, dest_dir: Path) -> Path:
        """Write the recording's original bytes into `dest_dir` and return the file's path."""
        ...


class CameraCatalog(Protocol):
    """A source that can list its cameras (every built-in source can)."""

    async def cameras(self) -> list[SourceCamera]:
        """The cameras this source can serve, with their current footage span."""
        ...
