"""The configured footage sources of a gateway, persisted in DATA/sources.json (0600)."""

from __future__ import annotations

import builtins
import re
import shutil
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import aiohttp

from gateway.redaction.video_input import check_frame_rate

from .base import CameraCatalog, FootageSource, SourceCamera, SourceError
from .folder import CameraLayout, FolderSettings, FolderSource
from .nest import NestSource
from .nest_auth import NestProject
from .nest_events import check_subscription
from .ring import RingSource
from .token_store import TokenStore, read_private_json, write_private_json

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_FILE_VERSION = 1


class SourceKind(StrEnum):
    """The kinds of footage source the gateway can read."""

    FOLDER = "folder"
    RING = "ring"
    NEST = "nest"


# What `change` may change: not a cloud source's account or project, which need a new sign-in.
_CHANGEABLE: dict[SourceKind, set[str]] = {
    SourceKind.FOLDER: {"root", "time_zone", "clock_offset_s", "layout", "frame_rate", "hard_link"},
    SourceKind.NEST: {"retention_days", "subscription"},
}


@dataclass(frozen=True)
class SourceInfo:
    """A configured source and the cameras it last reported (with their footage span)."""

    name: str
    kind: SourceKind
    cameras: tuple[SourceCamera, ...] = ()
    error: str | None = None  # why the cameras could not be listed, in plain language


class SourceRegistry:
    """Adds, removes, lists and opens the sources configured in `data_dir`."""

    def __init__(self, data_dir: Path, *, session: aiohttp.ClientSession | None = None) -> None:
        self.data_dir = data_dir
        self._file = data_dir / "sources.json"
        self._session = session  # injected for the cloud sources (tests, or a shared session)
        self._open: dict[str, tuple[dict[str, Any], FootageSource]] = {}  # with its entry
        self._retired: builtins.list[FootageSource] = []  # opened under an entry since changed
        self._known_cameras: dict[str, tuple[SourceCamera, ...]] = {}

    def secret_path(self, name: str) -> Path:
        """Where a cloud source's tokens live (0600, never printed)."""
        return self.data_dir / "secrets" / f"source-{_checked_name(name)}.json"

    def cache_dir(self, name: str) -> Path:
        """Where a source keeps captured media (Nest)."""
        return self.data_dir / "source-cache" / _checked_name(name)

    def add(self, kind: str, name: str, **options: Any) -> SourceInfo:
        """Configure a new source; the sign-in (Ring, Nest) must already be in secret_path."""
        name = _checked_name(name)
        entries = self._load()
        if name in entries:
            raise SourceError(f"A source named '{name}' exists already; pick another name.")
        try:
            source_kind = SourceKind(kind)
        except ValueError:
            message = f"'{kind}' is not a kind of source; use folder, ring or nest."
            raise SourceError(message) from None
        clean = _validated(source_kind, options)
        if source_kind is not SourceKind.FOLDER:
            TokenStore(self.secret_path(name), source_kind.value).load()  # signed in already?
        entries[name] = {"kind": source_kind.value, "options": clean}
        self._save(entries)
        return SourceInfo(name, source_kind)

    def change(self, name: str, **changes: Any) -> SourceInfo:
        """Change settings of a source, keeping its sign-in and captured media: each option
        given replaces the stored one, None removes it (a folder's frame rate, a Nest source's
        subscription). Checked as `add` checks them; nothing is stored when one is refused."""
        entries = self._load()
        if name not in entries:
            raise SourceError(f"There is no source named '{name}'.")
        kind = SourceKind(entries[name]["kind"])
        if not changes:
            raise SourceError("Give at least one setting to change.")
        if kind is SourceKind.RING:
            raise SourceError(
                "A Ring source has no settings to change; to sign in as another account, "
                "remove it and add it again."
            )
        unknown = sorted(_option_flag(key) for key in set(changes) - _CHANGEABLE[kind])
        if unknown:
            raise SourceError(f"A {kind.value} source has no setting {', '.join(unknown)}.")
        options = {**entries[name]["options"], **changes}
        clean = _validated(kind, {k: v for k, v in options.items() if v is not None})
        entries[name] = {"kind": kind.value, "options": clean}
        self._save(entries)
        return SourceInfo(name, kind)

    def remove(self, name: str) -> None:
        """Forget a source and delete its saved sign-in and captured media."""
        entries = self._load()
        if name not in entries:
            raise SourceError(f"There is no source named '{name}'.")
        del entries[name]
        self._save(entries)
        self._retire(name)
        self._known_cameras.pop(name, None)
        self.secret_path(name).unlink(missing_ok=True)
        shutil.rmtree(self.cache_dir(name), ignore_errors=True)

    def list(self) -> list[SourceInfo]:
        """Configured sources with the cameras they last reported (no network; see describe)."""
        return [
            SourceInfo(name, SourceKind(entry["kind"]), self._known_cameras.get(name, ()))
            for name, entry in sorted(self._load().items())
        ]

    async def describe(self) -> builtins.list[SourceInfo]:
        """Ask every source for its cameras now; a failing source reports its error."""
        infos = []
        for info in self.list():
            try:
                source = cast(CameraCatalog, self.get(info.name))
                cameras = tuple(await source.cameras())
            except SourceError as exc:
                infos.append(SourceInfo(info.name, info.kind, info.cameras, str(exc)))
                continue
            self._known_cameras[info.name] = cameras
            infos.append(SourceInfo(info.name, info.kind, cameras))
        return infos

    def get(self, name: str) -> FootageSource:
        """The open source called `name`: one instance per registry for as long as its entry in
        sources.json stays the same. Another process (the `source` commands beside a running
        `serve`) may change the file, so it is read each time, and a source whose entry changed
        or went is opened again or refused."""
        entry = self._load().get(name)
        opened = self._open.get(name)
        if opened is not None and opened[0] == entry:
            return opened[1]
        self._retire(name)
        if entry is None:
            raise SourceError(
                f"There is no footage source named '{name}'; add it with "
                "'safesmart-gateway source add'."
            )
        source = self._build(name, SourceKind(entry["kind"]), entry["options"])
        self._open[name] = (entry, source)
        return source

    def capturing(self) -> dict[str, dict[str, Any]]:
        """The sources that must be running to have footage (Nest: no history, so `serve`
        captures event media as it arrives), by name, with their entries."""
        return {
            name: entry
            for name, entry in self._load().items()
            if entry["kind"] == SourceKind.NEST.value and entry["options"].get("subscription")
        }

    async def close_retired(self) -> None:
        """Close the connections of sources opened under an entry that has since changed."""
        retired, self._retired = self._retired, []
        for source in retired:
            await _close(source)

    async def close(self) -> None:
        """Close every open source's connections."""
        self._retired.extend(source for _, source in self._open.values())
        self._open.clear()
        await self.close_retired()

    def _retire(self, name: str) -> None:
        opened = self._open.pop(name, None)
        if opened is not None:
            self._retired.append(opened[1])

    def _build(self, name: str, kind: SourceKind, options: dict[str, Any]) -> FootageSource:
        if kind is SourceKind.FOLDER:
            rate = options.get("frame_rate")  # absent from sources added before it existed
            settings = FolderSettings(
                time_zone=options["time_zone"],
                clock_offset_s=options["clock_offset_s"],
                layout=CameraLayout(options["layout"]),
                frame_rate=None if rate is None else Fraction(rate),
            )
            return FolderSource(
                Path(options["root"]), name=name, settings=settings, hard_link=options["hard_link"]
            )
        if kind is SourceKind.RING:
            return RingSource(self.secret_path(name), name=name, session=self._session)
        return NestSource(
            self.secret_path(name),
            self.cache_dir(name),
            NestProject(options["project_id"], options["client_id"]),
            name=name,
            retention_days=options["retention_days"],
            session=self._session,
            subscription=options.get("subscription"),
        )

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = read_private_json(self._file)
        except (OSError, ValueError) as exc:
            raise SourceError("sources.json in the gateway data folder cannot be read.") from exc
        if data is None:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            raise SourceError("sources.json in the gateway data folder is not in the right form.")
        return cast(dict[str, dict[str, Any]], data["sources"])

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        write_private_json(self._file, {"version": _FILE_VERSION, "sources": entries})


async def _close(source: FootageSource) -> None:
    closer = getattr(source, "close", None)
    if closer is not None:
        await closer()


def _option_flag(key: str) -> str:
    """How a resident gives an option (`source add` and `source set`)."""
    named = {"root": "path", "clock_offset_s": "clock-offset"}
    return "--" + named.get(key, key.replace("_", "-"))


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise SourceError(
            f"'{name}' cannot name a source: use 1-40 lower-case letters, digits, '-' or '_'."
        )
    return name


def _frame_rate(value: object) -> Fraction:
    """The frame rate a resident gave for a folder's raw streams (10, 29.97, 30000/1001)."""
    try:
        rate = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise SourceError(
            f"'{value}' is not a frame rate: give frames a second, such as 10 or 30000/1001."
        ) from None
    try:
        check_frame_rate(rate)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    return rate


def _validated(kind: SourceKind, options: dict[str, Any]) -> dict[str, Any]:
    """Check a kind's options; return them in stored form (never secrets)."""
    if kind is SourceKind.FOLDER:
        root = Path(str(options.get("root", ""))).expanduser()
        if not str(options.get("root", "")) or not root.is_dir():
            raise SourceError("The footage folder does not exist or is not a folder.")
        layout = str(options.get("layout", CameraLayout.SUBFOLDER.value))
        if layout not in {item.value for item in CameraLayout}:
            raise SourceError("Camera layout must be 'subfolder' or 'file_name'.")
        try:
            offset = float(options.get("clock_offset_s", 0.0))
        except (TypeError, ValueError):
            raise SourceError("The clock offset must be a number of seconds.") from None
        zone = str(options.get("time_zone", "UTC"))
        clean: dict[str, Any] = {
            "root": str(root.resolve()),
            "time_zone": zone,
            "clock_offset_s": offset,
            "layout": layout,
            "hard_link": bool(options.get("hard_link", False)),
        }
        if options.get("frame_rate") is not None:
            clean["frame_rate"] = str(_frame_rate(options["frame_rate"]))
        # Constructing the source checks the time zone with the same message the resident sees.
        FolderSource(root, settings=FolderSettings(zone, offset))
        return clean
    if kind is SourceKind.RING:
        if options:
            raise SourceError(f"Ring sources take no options (got {', '.join(sorted(options))}).")
        return {}
    project_id, client_id = options.get("project_id"), options.get("client_id")
    if not isinstance(project_id, str) or not project_id or not isinstance(client_id, str):
        raise SourceError("A Nest source needs its Device Access project id and OAuth client id.")
    days = options.get("retention_days", 30)
    if not isinstance(days, int) or not 1 <= days <= 365:
        raise SourceError("Nest retention must be a whole number of days from 1 to 365.")
    nest: dict[str, Any] = {"project_id": project_id, "client_id": client_id}
    nest["retention_days"] = days
    subscription = options.get("subscription")
    if subscription is not None:
        nest["subscription"] = check_subscription(str(subscription))
    return nest

