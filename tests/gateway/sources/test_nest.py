"""The Nest source driving the real google-nest-sdm library against a fake SDM API on loopback."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import stat
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from PIL import Image

from gateway.sources.base import (
    NoFootageError,
    ReauthRequiredError,
    SourceError,
    UnknownCameraError,
)
from gateway.sources.nest import NestSource
from gateway.sources.nest_auth import NestProject, authorization_url, nest_sign_in
from protocol.timeutil import TimeWindow

type StartCloud = Callable[[web.Application], Awaitable[tuple[TestServer, ClientSession]]]

PROJECT = NestProject(project_id="proj-1", client_id="client-1.apps.example.test")
SECRET = "client-secret-1"  # noqa: S105 - a fake OAuth client of the fake server
PREFIX = "enterprises/proj-1/devices/"
DOORBELL, WIRED = "AVPHdoorbell01", "AVPHwiredcam02"
LIVE_ONLY, THERMOSTAT = "AVPHliveonly03", "AVPHthermo04"
REFRESH = "1//refresh-1"
PREVIEW_HOST = "https://nest-camera-frontend.googleapis.com/frontend/encoded/clippreview"


def device(short_id: str, kind: str, name: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": PREFIX + short_id,
        "type": f"sdm.devices.types.{kind}",
        "assignee": "enterprises/proj-1/structures/S1/rooms/R1",
        "traits": {"sdm.devices.traits.Info": {"customName": name}, **traits},
        "parentRelations": [{"parent": "enterprises/proj-1/structures/S1/rooms/R1",
                             "displayName": "Entrance"}],
    }


DEVICES = [
    device(DOORBELL, "DOORBELL", "Front Door", {
        "sdm.devices.traits.CameraLiveStream": {"supportedProtocols": ["WEB_RTC"]},
        "sdm.devices.traits.CameraClipPreview": {},
        "sdm.devices.traits.CameraMotion": {},
        "sdm.devices.traits.CameraPerson": {},
        "sdm.devices.traits.DoorbellChime": {},
    }),
    device(WIRED, "CAMERA", "Backyard", {
        "sdm.devices.traits.CameraLiveStream": {"maxVideoResolution": {"width": 640,
                                                "height": 480}, "videoCodecs": ["H264"],
                                                "audioCodecs": ["AAC"],
                                                "supportedProtocols": ["RTSP"]},
        "sdm.devices.traits.CameraEventImage": {},
        "sdm.devices.traits.CameraMotion": {},
    }),
    device(LIVE_ONLY, "CAMERA", "Garage", {
        "sdm.devices.traits.CameraLiveStream": {"supportedProtocols": ["WEB_RTC"]},
    }),
    device(THERMOSTAT, "THERMOSTAT", "Hallway", {
        "sdm.devices.traits.Temperature": {"ambientTemperatureCelsius": 20.5},
    }),
]


@dataclass
class FakeSdm:
    """Google's token endpoint, the SDM API and its media hosts, with real response shapes."""

    clip: bytes
    image: bytes
    refresh_allowed: bool = True
    preview_gone: bool = False
    issued: int = 0
    valid_access: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)
    queued: list[dict[str, Any]] = field(default_factory=list)  # Pub/Sub receivedMessages
    acked: list[str] = field(default_factory=list)

    def app(self, app: web.Application | None = None) -> web.Application:
        """Its routes, in a new app or added to `app` (beside another fake cloud's)."""
        app = app or web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_get("/v1/enterprises/{project}/structures", self.structures)
        app.router.add_get("/v1/enterprises/{project}/devices", self.devices)
        app.router.add_post(
            "/v1/enterprises/{project}/devices/{device:[^/:]+}:executeCommand", self.command
        )
        app.router.add_get("/frontend/encoded/clippreview/{clip}", self.preview)
        app.router.add_get("/v1/media/{image}", self.event_image)
        sub = "/v1/projects/{cloud}/subscriptions/{sub:[^/:]+}"
        app.router.add_post(sub + ":pull", self.pull)
        app.router.add_post(sub + ":acknowledge", self.acknowledge)
        return app

    async def pull(self, request: web.Request) -> web.Response:
        assert request.host == "pubsub.googleapis.com"
        self._check(request)
        wanted = (await request.json())["maxMessages"]
        batch, self.queued = self.queued[:wanted], self.queued[wanted:]
        return web.json_response({"receivedMessages": batch} if batch else {})

    async def acknowledge(self, request: web.Request) -> web.Response:
        self._check(request)
        self.acked.extend((await request.json())["ackIds"])
        return web.json_response({})

    def _issue(self) -> dict[str, Any]:
        self.issued += 1
        access = f"ya29.access-{self.issued}"
        self.valid_access.add(access)
        return {"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/sdm.service "
                         "https://www.googleapis.com/auth/pubsub"}

    async def token(self, request: web.Request) -> web.Response:
        assert request.host == "oauth2.googleapis.com"
        form = await request.post()
        if form["client_id"] != PROJECT.client_id or form["client_secret"] != SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form["grant_type"] == "authorization_code" and form["code"] == "4/0-one-time-code":
            return web.json_response({**self._issue(), "refresh_token": REFRESH})
        if (form["grant_type"] == "refresh_token" and self.refresh_allowed
                and form["refresh_token"] == REFRESH):
            return web.json_response(self._issue())
        return web.json_response({"error": "invalid_grant", "error_description": "Bad Request"},
                                 status=400)

    def _check(self, request: web.Request) -> None:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_access:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": {"code": 401, "message": "invalid credentials",
                                           "status": "UNAUTHENTICATED"}}),
                content_type="application/json")

    async def structures(self, request: web.Request) -> web.Response:
        self._check(request)
        return web.json_response({"structures": [{
            "name": "enterprises/proj-1/structures/S1",
            "traits": {"sdm.structures.traits.Info": {"customName": "Home"}}}]})

    async def devices(self, request: web.Request) -> web.Response:
        self._check(request)
        self.hits["devices"] += 1
        return web.json_response({"devices": DEVICES})

    async def command(self, request: web.Request) -> web.Response:
        self._check(request)
        body = await request.json()
        assert body["command"] == "sdm.devices.commands.CameraEventImage.GenerateImage"
        self.hits["generate_image"] += 1
        return web.json_response({"results": {
            "url": "https://smartdevicemanagement.googleapis.com/v1/media/img-1",
            "token": "g.1.eventToken"}})

    async def event_image(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Basic g.1.eventToken"
        self.hits["image"] += 1
        return web.Response(body=self.image, content_type="image/jpeg")

    async def preview(self, request: web.Request) -> web.Response:
        self._check(request)
        self.hits["preview"] += 1
        if self.preview_gone:
            return web.json_response({"error": {"code": 404, "message": "expired",
                                                "status": "NOT_FOUND"}}, status=404)
        return web.Response(body=self.clip, content_type="video/mp4")


def event_message(device_id: str, at: datetime, session: str, *, clip: bool) -> dict[str, Any]:
    """A Pub/Sub SDM event message as Google publishes it."""
    events: dict[str, Any] = {"sdm.devices.events.CameraMotion.Motion": {
        "eventSessionId": session, "eventId": f"ev-{session}"}}
    if clip:
        events["sdm.devices.events.CameraClipPreview.ClipPreview"] = {
            "eventSessionId": session, "previewUrl": f"{PREVIEW_HOST}/{session}"}
    return {
        "eventId": f"msg-{session}",
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "resourceUpdate": {"name": PREFIX + device_id, "events": events},
        "userId": "AVPHwEuBfnPOnTqzVFT4IONX2Qqhu9EJ4ubO-bNnQ-yi",
        "eventThreadId": f"thread-{session}",
        "eventThreadState": "ENDED",
        "resourceGroup": [PREFIX + device_id],
    }


@pytest.fixture
async def nest_cloud(
    start_cloud: StartCloud, make_clip: Callable[..., Path], tmp_path: Path
) -> tuple[FakeSdm, ClientSession]:
    jpeg = io.BytesIO()
    Image.new("RGB", (160, 120), (40, 90, 160)).save(jpeg, format="JPEG")
    fake = FakeSdm(clip=make_clip(tmp_path / "preview.mp4", seconds=3).read_bytes(),
                   image=jpeg.getvalue())
    _, session = await start_cloud(fake.app())
    return fake, session


async def signed_in_source(
    session: ClientSession, tmp_path: Path, clock: Callable[[], datetime] | None = None
) -> NestSource:
    token_path = tmp_path / "secrets" / "nest-home.json"
    await nest_sign_in(token_path, PROJECT, SECRET, "4/0-one-time-code", session)
    return NestSource(token_path, tmp_path / "cache", PROJECT, session=session,
                      retention_days=7, clock=clock or (lambda: datetime.now(UTC)))


def to_millis(moment: datetime) -> datetime:
    """Event messages carry milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def around(moment: datetime, before_s: float = 30, after_s: float = 30) -> TimeWindow:
    return TimeWindow(moment - timedelta(seconds=before_s), moment + timedelta(seconds=after_s))


def test_authorization_url_names_the_project_and_scopes() -> None:
    url = authorization_url(PROJECT)
    assert url.startswith("https://nestservices.google.com/partnerconnections/proj-1/auth?")
    assert "client_id=client-1.apps.example.test" in url and "sdm.service" in url
    assert "access_type=offline" in url


async def test_sign_in_keeps_tokens_private(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    _, session = nest_cloud
    token_path = tmp_path / "nest.json"
    with pytest.raises(ReauthRequiredError):
        await nest_sign_in(token_path, PROJECT, SECRET, "4/0-wrong", session)
    assert not token_path.exists()
    await nest_sign_in(token_path, PROJECT, SECRET, "4/0-one-time-code", session)
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert json.loads(token_path.read_text())["token"]["refresh_token"] == REFRESH


async def test_clip_previews_are_captured_and_serve_windows(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    cameras = await source.cameras()
    assert [(c.device_id, c.label) for c in cameras] == [
        (WIRED, "Backyard"), (DOORBELL, "Front Door"), (LIVE_ONLY, "Garage")]
    first = datetime.now(UTC) + timedelta(seconds=1)
    second = first + timedelta(seconds=2)  # overlaps the first 3-second clip
    await source.handle_message(event_message(DOORBELL, first, "S1", clip=True))
    await source.handle_message(event_message(DOORBELL, second, "S2", clip=True))
    assert fake.hits["preview"] == 2
    found = await source.recordings(DOORBELL, TimeWindow(first + timedelta(seconds=2.5),
                                                         first + timedelta(seconds=3.5)))
    assert [r.start for r in found] == [to_millis(first), to_millis(second)]
    assert found[0].metadata["media"] == "clip_preview"
    path = await source.fetch(found[0], tmp_path / "work")
    assert path.read_bytes() == fake.clip
    media_file = next((tmp_path / "cache" / "media" / DOORBELL).iterdir())
    assert stat.S_IMODE(media_file.stat().st_mode) == 0o600


async def test_model_without_clip_previews_gives_event_images(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    at = datetime.now(UTC) + timedelta(seconds=1)
    await source.handle_message(event_message(WIRED, at, "W1", clip=False))
    [found] = await source.recordings(WIRED, around(at))
    assert found.metadata["media"] == "event_image"
    assert found.metadata["content_type"] == "image/jpeg"
    assert (await source.fetch(found, tmp_path / "work")).read_bytes() == fake.image
    camera = next(c for c in await source.cameras() if c.device_id == WIRED)
    assert camera.model == "event images only (no video, no continuous history)"


async def test_live_only_model_says_nothing_can_be_captured(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    _, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    with pytest.raises(NoFootageError, match="sends no event clips or images"):
        await source.recordings(LIVE_ONLY, around(datetime.now(UTC)))
    with pytest.raises(UnknownCameraError):
        await source.recordings(THERMOSTAT, around(datetime.now(UTC)))


async def test_window_before_capture_began_names_the_date(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    _, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(NoFootageError, match=r"Nest keeps no history for this model; only events "
                                             r"captured since 20\d\d-\d\d-\d\dT"):
        await source.recordings(DOORBELL, around(yesterday))


async def test_an_event_from_before_capture_began_is_served_while_its_media_lasts(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    # Pub/Sub keeps the messages of events from while nothing pulled (the gateway stopped, or
    # not yet started), and hands them over late.
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    await source.cameras()  # capture begins now
    earlier = datetime.now(UTC) - timedelta(minutes=3)  # a clip preview lasts 15 minutes
    await source.handle_message(event_message(DOORBELL, earlier, "E1", clip=True))
    [found] = await source.recordings(DOORBELL, around(earlier, 5, 5))
    assert found.start == to_millis(earlier) and fake.hits["preview"] == 1
    with pytest.raises(NoFootageError, match="only events captured since"):  # none else then
        await source.recordings(DOORBELL, around(earlier - timedelta(minutes=1), 5, 5))


async def test_empty_window_after_capture_began(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    _, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    await source.cameras()
    assert await source.recordings(DOORBELL, around(datetime.now(UTC) + timedelta(minutes=5))) == []


async def test_media_expired_before_capture(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    await source.cameras()
    late = datetime.now(UTC) + timedelta(seconds=1)
    fake.preview_gone = True  # the preview URL answers 404: the media has expired at Google
    await source.handle_message(event_message(DOORBELL, late, "L1", clip=True))
    with pytest.raises(NoFootageError, match="expired before it could be captured"):
        await source.recordings(DOORBELL, around(late))


async def test_event_delivered_too_late_is_explained(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    clock = [datetime.now(UTC) - timedelta(minutes=30)]
    source = await signed_in_source(session, tmp_path, clock=lambda: clock[0])
    await source.cameras()
    stale_clip = datetime.now(UTC) - timedelta(minutes=16)  # previews last 15 minutes
    stale_image = datetime.now(UTC) - timedelta(minutes=2)  # event images last 30 seconds
    await source.handle_message(event_message(DOORBELL, stale_clip, "O1", clip=True))
    await source.handle_message(event_message(WIRED, stale_image, "O2", clip=False))
    assert fake.hits["preview"] == fake.hits["generate_image"] == 0
    with pytest.raises(NoFootageError, match="after Nest had dropped its media"):
        await source.recordings(DOORBELL, around(stale_clip))
    with pytest.raises(NoFootageError, match="after Nest had dropped its media"):
        await source.recordings(WIRED, around(stale_image))


async def test_retention_purges_old_media(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    _, session = nest_cloud
    clock = [datetime.now(UTC)]
    source = await signed_in_source(session, tmp_path, clock=lambda: clock[0])
    at = datetime.now(UTC) + timedelta(seconds=1)
    await source.handle_message(event_message(DOORBELL, at, "R1", clip=True))
    [found] = await source.recordings(DOORBELL, around(at))
    clock[0] = at + timedelta(days=8)
    with pytest.raises(NoFootageError, match="kept for 7 days"):
        await source.recordings(DOORBELL, around(at))
    with pytest.raises(NoFootageError, match="7-day retention"):
        await source.fetch(found, tmp_path / "work")


async def test_expired_token_is_refreshed_and_saved(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    token_path = tmp_path / "secrets" / "nest-home.json"
    stored = json.loads(token_path.read_text())
    stored["token"]["expires_at"] = time.time() - 10
    token_path.write_text(json.dumps(stored))
    await source.cameras()
    assert fake.issued == 2
    saved = json.loads(token_path.read_text())["token"]["access_token"]
    assert saved == f"ya29.access-{fake.issued}"


async def test_refused_refresh_asks_to_sign_in_again(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    source = await signed_in_source(session, tmp_path)
    token_path = tmp_path / "secrets" / "nest-home.json"
    stored = json.loads(token_path.read_text())
    stored["token"]["expires_at"] = time.time() - 10
    token_path.write_text(json.dumps(stored))
    fake.refresh_allowed = False
    with pytest.raises(ReauthRequiredError, match="sign in again"):
        await source.cameras()


def received(ack_id: str, data: bytes) -> dict[str, Any]:
    """One entry of a Pub/Sub REST pull answer."""
    return {"ackId": ack_id, "message": {
        "data": base64.b64encode(data).decode(), "messageId": f"m-{ack_id}",
        "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z")}}


async def test_events_arrive_through_pubsub_pull(
    nest_cloud: tuple[FakeSdm, ClientSession], tmp_path: Path
) -> None:
    fake, session = nest_cloud
    token_path = tmp_path / "secrets" / "nest-home.json"
    await nest_sign_in(token_path, PROJECT, SECRET, "4/0-one-time-code", session)
    source = NestSource(token_path, tmp_path / "cache", PROJECT, session=session,
                        subscription="projects/home-cloud/subscriptions/sdm-events")
    at = datetime.now(UTC) + timedelta(seconds=1)
    fake.queued = [
        received("a1", json.dumps(event_message(DOORBELL, at, "P1", clip=True)).encode()),
        received("a2", b"not json at all"),
        received("a3", json.dumps({"hello": "world"}).encode()),
    ]
    watcher = asyncio.create_task(source.watch(idle_s=0.01))
    try:
        for _ in range(500):
            if len(fake.acked) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        watcher.cancel()
    assert sorted(fake.acked) == ["a1", "a2", "a3"]  # malformed ones are dropped, not redelivered
    [found] = await source.recordings(DOORBELL, around(at))
    assert found.metadata["media"] == "clip_preview"


def test_subscription_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="projects/<cloud-project>/subscriptions/<name>"):
        NestSource(tmp_path / "t.json", tmp_path / "c", PROJECT, subscription="sdm-events")
