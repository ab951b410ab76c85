"""The source registry: sources.json, secrets, validation, and opening sources."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from gateway.sources.base import ReauthRequiredError, SourceError
from gateway.sources.folder import FolderSource
from gateway.sources.registry import SourceKind, SourceRegistry
from gateway.sources.ring import RingSource

type MakeClip = Callable[..., Path]
type StartCloud = Callable[[web.Application], Awaitable[tuple[TestServer, ClientSession]]]
T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def test_folder_source_round_trip(tmp_path: Path, make_clip: MakeClip) -> None:
    footage = tmp_path / "footage"
    make_clip(footage / "porch" / "front_20261121_093000.mp4")
    registry = SourceRegistry(tmp_path / "data")
    info = registry.add("folder", "home", root=str(footage), time_zone="America/New_York",
                        clock_offset_s=2.5)
    assert (info.name, info.kind) == ("home", SourceKind.FOLDER)
    sources_file = tmp_path / "data" / "sources.json"
    assert stat.S_IMODE(sources_file.stat().st_mode) == 0o600
    stored = json.loads(sources_file.read_text())["sources"]["home"]
    assert stored == {"kind": "folder", "options": {
        "root": str(footage.resolve()), "time_zone": "America/New_York", "clock_offset_s": 2.5,
        "layout": "subfolder", "hard_link": False}}
    reopened = SourceRegistry(tmp_path / "data")
    source = reopened.get("home")
    assert isinstance(source, FolderSource) and source is reopened.get("home")
    assert source.settings.time_zone == "America/New_York"
    assert [(i.name, i.kind, i.cameras) for i in reopened.list()] == [
        ("home", SourceKind.FOLDER, ())]
    assert source.settings.frame_rate is None  # raw streams at the rate they state


@pytest.mark.parametrize(("given", "stored"), [
    ("10", "10"), (" 12.5 ", "25/2"), ("29.97", "2997/100"), ("30000/1001", "30000/1001"),
    ("0.001", "1/1000"), ("1000", "1000")])
def test_a_folder_sources_raw_stream_frame_rate_is_kept_exactly(
    tmp_path: Path, given: str, stored: str
) -> None:
    (tmp_path / "footage").mkdir()
    registry = SourceRegistry(tmp_path / "data")
    registry.add("folder", "home", root=str(tmp_path / "footage"), frame_rate=given)
    options = json.loads((tmp_path / "data" / "sources.json").read_text())["sources"]["home"]
    assert options["options"]["frame_rate"] == stored
    source = SourceRegistry(tmp_path / "data").get("home")
    assert isinstance(source, FolderSource)
    assert source.settings.frame_rate == Fraction(stored)


async def test_describe_reports_cameras_and_span(tmp_path: Path, make_clip: MakeClip) -> None:
    make_clip(tmp_path / "footage" / "porch" / "front_20261121_093000.mp4", seconds=2)
    registry = SourceRegistry(tmp_path / "data")
    registry.add("folder", "home", root=str(tmp_path / "footage"))
    [info] = await registry.describe()
    [camera] = info.cameras
    assert (camera.device_id, camera.footage_start, camera.footage_end) == (
        "porch", T0, T0 + timedelta(seconds=2))
    assert registry.list()[0].cameras == (camera,)  # remembered for the synchronous list


@pytest.mark.parametrize(
    ("kind", "name", "options", "message"),
    [
        ("folder", "Bad Name", {}, "cannot name a source"),
        ("folder", "../x", {}, "cannot name a source"),
        ("dropbox", "home2", {}, "not a kind of source"),
        ("folder", "home2", {"root": "/nonexistent/footage"}, "does not exist"),
        ("folder", "home2", {"time_zone": "Nowhere/Else"}, "not a time zone"),
        ("folder", "home2", {"layout": "sideways"}, "layout"),
        ("folder", "home2", {"clock_offset_s": "soon"}, "number of seconds"),
        ("folder", "home2", {"frame_rate": "ten"}, "'ten' is not a frame rate"),
        ("folder", "home2", {"frame_rate": "30/0"}, "'30/0' is not a frame rate"),
        ("folder", "home2", {"frame_rate": "nan"}, "'nan' is not a frame rate"),
        ("folder", "home2", {"frame_rate": "inf"}, "'inf' is not a frame rate"),
        ("folder", "home2", {"frame_rate": "0"}, "must be 0.001 to 1000 frames a second"),
        ("folder", "home2", {"frame_rate": "-10"}, "must be 0.001 to 1000 frames a second"),
        ("folder", "home2", {"frame_rate": "1001"}, "must be 0.001 to 1000 frames a second"),
        ("folder", "home", {}, "exists already"),
        ("nest", "cams", {"project_id": "p"}, "OAuth client id"),
        ("nest", "cams", {"project_id": "p", "client_id": "c", "retention_days": 0}, "1 to 365"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tmp_path: Path, kind: str, name: str, options: dict[str, object], message: str
) -> None:
    (tmp_path / "footage").mkdir()
    registry = SourceRegistry(tmp_path / "data")
    registry.add("folder", "home", root=str(tmp_path / "footage"))
    before = (tmp_path / "data" / "sources.json").read_bytes()
    if kind == "folder" and "root" not in options:
        options = {"root": str(tmp_path / "footage"), **options}
    with pytest.raises(SourceError, match=message):
        registry.add(kind, name, **options)
    assert (tmp_path / "data" / "sources.json").read_bytes() == before


def test_cloud_source_needs_a_sign_in_first(tmp_path: Path) -> None:
    registry = SourceRegistry(tmp_path / "data")
    with pytest.raises(ReauthRequiredError, match="signed in"):
        registry.add("ring", "doorbell")
    assert registry.list() == []


def test_unknown_and_unreadable(tmp_path: Path) -> None:
    registry = SourceRegistry(tmp_path / "data")
    with pytest.raises(SourceError, match="no footage source named 'ghost'"):
        registry.get("ghost")
    with pytest.raises(SourceError, match="no source named 'ghost'"):
        registry.remove("ghost")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sources.json").write_text("{not json")
    with pytest.raises(SourceError, match=r"sources\.json .* cannot be read"):
        registry.list()


def test_a_source_changed_by_another_process_is_opened_again(tmp_path: Path) -> None:
    # `serve` keeps its sources open; the `source` commands change sources.json beside it.
    (tmp_path / "footage").mkdir()
    serving, command = SourceRegistry(tmp_path / "data"), SourceRegistry(tmp_path / "data")
    command.add("folder", "nvr", root=str(tmp_path / "footage"))
    first = serving.get("nvr")
    assert serving.get("nvr") is first  # one instance while its entry stays the same
    command.remove("nvr")
    with pytest.raises(SourceError, match="no footage source named 'nvr'"):
        serving.get("nvr")
    command.add("folder", "nvr", root=str(tmp_path / "footage"), frame_rate="10")
    again = serving.get("nvr")
    assert isinstance(again, FolderSource) and again.settings.frame_rate == Fraction(10)


def test_only_nest_sources_with_a_subscription_are_captured(tmp_path: Path) -> None:
    registry = SourceRegistry(tmp_path / "data")
    (tmp_path / "footage").mkdir()
    registry.add("folder", "nvr", root=str(tmp_path / "footage"))
    # Nest sources as `source add nest` stores them (adding one needs a sign-in).
    sources_file = tmp_path / "data" / "sources.json"
    stored = json.loads(sources_file.read_text())
    nest = {"project_id": "p", "client_id": "c", "retention_days": 30}
    stored["sources"]["quiet"] = {"kind": "nest", "options": nest}
    stored["sources"]["home"] = {"kind": "nest", "options": {
        **nest, "subscription": "projects/home-cloud/subscriptions/sdm-events"}}
    sources_file.write_text(json.dumps(stored))
    assert list(registry.capturing()) == ["home"]


def test_a_nest_sources_settings_change_and_its_sign_in_and_media_stay(tmp_path: Path) -> None:
    registry = SourceRegistry(tmp_path / "data")
    (tmp_path / "data").mkdir()
    sources_file = tmp_path / "data" / "sources.json"
    subscription = "projects/home-cloud/subscriptions/sdm-events"
    nest = {"project_id": "p", "client_id": "c", "retention_days": 30}
    sources_file.write_text(json.dumps({"version": 1, "sources": {
        "home": {"kind": "nest", "options": {**nest, "subscription": subscription}},
        "bell": {"kind": "ring", "options": {}}}}))
    registry.secret_path("home").parent.mkdir(parents=True)
    registry.secret_path("home").write_text("{}")
    registry.cache_dir("home").mkdir(parents=True)
    for changes, message in (
        ({"retention_days": 0}, "1 to 365"),
        ({"subscription": "sdm-events"}, "projects/<cloud-project>/subscriptions/<name>"),
        ({"project_id": "other"}, "A nest source has no setting --project-id."),
    ):
        with pytest.raises(SourceError, match=re.escape(message)):
            registry.change("home", **changes)
    with pytest.raises(SourceError, match="A Ring source has no settings to change"):
        registry.change("bell", retention_days=3)
    assert list(registry.capturing()) == ["home"]  # all refused: nothing changed
    registry.change("home", retention_days=7, subscription=None)
    stored = json.loads(sources_file.read_text())["sources"]["home"]
    assert stored == {"kind": "nest", "options": {**nest, "retention_days": 7}}
    assert registry.capturing() == {}
    assert registry.secret_path("home").exists() and registry.cache_dir("home").is_dir()


async def test_ring_source_through_the_registry(
    start_cloud: StartCloud, tmp_path: Path
) -> None:
    # A minimal Ring cloud: sign-in, session and device list, in Ring's shapes.
    devices = json.loads((Path(__file__).parent / "fixtures" / "ring_devices.json").read_text())

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "a1", "token_type": "bearer",
                                  "expires_in": 3600, "refresh_token": "r1", "scope": "client",
                                  "created_at": 1})

    async def session_(request: web.Request) -> web.Response:
        return web.json_response({"profile": {"id": 1}})

    async def ring_devices(request: web.Request) -> web.Response:
        return web.json_response(devices)

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/clients_api/session", session_)
    app.router.add_get("/clients_api/ring_devices", ring_devices)
    _, http = await start_cloud(app)

    from gateway.sources.ring import ring_sign_in

    registry = SourceRegistry(tmp_path / "data", session=http)
    await ring_sign_in(registry.secret_path("doorbell"), "me@example.test", "pw", "123456",
                       session=http)
    registry.add("ring", "doorbell")
    assert isinstance(registry.get("doorbell"), RingSource)
    [info] = await registry.describe()
    assert info.error is None
    assert [c.label for c in info.cameras] == ["Driveway", "Front Door", "Side Gate"]
    secret = registry.secret_path("doorbell")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "a1" not in (tmp_path / "data" / "sources.json").read_text()
    registry.remove("doorbell")
    assert not secret.exists() and registry.list() == []
