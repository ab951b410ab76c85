"""The Ring source driving the real ring-doorbell library against a fake Ring cloud on loopback."""

from __future__ import annotations

import json
import stat
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from gateway.sources.base import (
    EncryptedFootageError,
    NoFootageError,
    ReauthRequiredError,
    SourceUnavailableError,
    UnknownCameraError,
)
from gateway.sources.ring import RingSource, TwoFactorRequiredError, ring_sign_in
from gateway.sources.ring_calls import RetryPolicy
from protocol.timeutil import TimeWindow

type StartCloud = Callable[[web.Application], Awaitable[tuple[TestServer, ClientSession]]]

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
FRONT = "987652"
FAST = RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05)


@dataclass
class FakeRing:
    """Ring's OAuth, clients_api and media hosts, answering with the real response shapes."""

    clip: bytes
    events: int = 12  # one motion event a minute from `start`, ids growing with time
    start: datetime = T0
    require_2fa: bool = True
    refresh_allowed: bool = True
    not_found_first: int = 0
    rate_limited_first: int = 0
    revoke_next_access: bool = False
    cut_media: bool = False
    link_without_url: bool = False
    preparing_first: int = 0  # answers with an empty link, as Ring does while it prepares a file
    tokens_issued: int = 0
    valid_access: set[str] = field(default_factory=set)
    valid_refresh: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)
    history_queries: list[dict[str, str]] = field(default_factory=list)

    def app(self, app: web.Application | None = None) -> web.Application:
        """Its routes, in a new app or added to `app` (beside another fake cloud's)."""
        app = app or web.Application()
        app.router.add_post("/oauth/token", self.token)
        app.router.add_post("/clients_api/session", self.session)
        app.router.add_get("/clients_api/ring_devices", self.devices)
        app.router.add_get("/clients_api/doorbots/{id}/history", self.history)
        app.router.add_get("/clients_api/dings/{id}/share/play", self.media_link)
        app.router.add_get("/videos/{id}.mp4", self.media)
        return app

    def _token(self) -> dict[str, Any]:
        self.tokens_issued += 1
        access, refresh = f"access-{self.tokens_issued}", f"refresh-{self.tokens_issued}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return {"access_token": access, "token_type": "bearer", "expires_in": 3600,
                "refresh_token": refresh, "scope": "client", "created_at": int(time.time())}

    async def token(self, request: web.Request) -> web.Response:
        assert request.host == "oauth.ring.com"
        form = await request.post()
        if form["grant_type"] == "refresh_token":
            if self.refresh_allowed and form["refresh_token"] in self.valid_refresh:
                return web.json_response(self._token())
            return web.json_response({"error": "invalid_grant",
                                      "error_description": "token is invalid"}, status=401)
        if (form["username"], form["password"]) != ("resident@example.test", "hunter2"):
            return web.json_response({"error": "invalid_grant",
                                      "error_description": "Invalid user credentials"}, status=401)
        if self.require_2fa and request.headers.get("2fa-code") != "123456":
            return web.json_response({"next_time_in_secs": 60, "phone": "+1xxxxxxxx89",
                                      "tsv_state": "sms"}, status=412)
        return web.json_response(self._token())

    def _authorised(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.revoke_next_access and bearer in self.valid_access:
            self.valid_access.discard(bearer)
            self.revoke_next_access = False
        return bearer in self.valid_access

    async def session(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"profile": {"id": 1, "email": "resident@example.test",
                                              "first_name": "Test", "last_name": "Resident",
                                              "features": {}}})

    async def devices(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response(json.loads((FIXTURES / "ring_devices.json").read_text()))

    async def history(self, request: web.Request) -> web.Response:
        self.hits["history"] += 1
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.rate_limited_first > 0:
            self.rate_limited_first -= 1
            return web.json_response({"error": "Too Many Requests"}, status=429,
                                     headers={"Retry-After": "0"})
        self.history_queries.append(dict(request.query))
        limit = int(request.query["limit"])
        older = int(request.query.get("older_than", 10**12))
        entries = [
            {"answered": False, "created_at": (self.start + timedelta(minutes=i)).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"), "events": [], "favorite": False,
             "id": 7000 + i, "kind": "motion", "recording": {"status": "ready"},
             "snapshot_url": ""}
            for i in reversed(range(self.events)) if 7000 + i < older
        ]
        return web.json_response(entries[:limit])

    async def media_link(self, request: web.Request) -> web.StreamResponse:
        self.hits["media_link"] += 1
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.not_found_first > 0:
            self.not_found_first -= 1
            return web.json_response({"error": "not found"}, status=404)
        if self.link_without_url:
            return web.json_response({})
        if self.preparing_first > 0:
            self.preparing_first -= 1
            return web.json_response({"url": ""})
        ding = request.match_info["id"]
        return web.json_response({"url": f"https://media.ring.test/videos/{ding}.mp4?sig=1"})

    async def media(self, request: web.Request) -> web.StreamResponse:
        self.hits["media"] += 1
        assert "Authorization" not in request.headers  # never leak the token to the CDN
        if self.cut_media:
            response = web.StreamResponse(headers={"Content-Length": str(len(self.clip))})
            await response.prepare(request)
            await response.write(self.clip[: len(self.clip) // 3])
            assert request.transport is not None
            request.transport.close()
            return response
        response = web.StreamResponse(
            headers={"Content-Length": str(len(self.clip)), "Content-Type": "video/mp4"}
        )
        await response.prepare(request)
        for start in range(0, len(self.clip), 1 << 18):  # as a CDN sends it, a piece at a time
            await response.write(self.clip[start : start + (1 << 18)])
        await response.write_eof()
        return response


@pytest.fixture
async def ring_cloud(
    start_cloud: StartCloud, make_clip: Callable[..., Path], tmp_path: Path
) -> tuple[FakeRing, ClientSession]:
    fake = FakeRing(clip=make_clip(tmp_path / "clip.mp4", seconds=2).read_bytes())
    _, session = await start_cloud(fake.app())
    return fake, session


async def signed_in(fake: FakeRing, session: ClientSession, tmp_path: Path) -> Path:
    token_path = tmp_path / "data" / "secrets" / "ring-home.json"
    fake.require_2fa = False
    await ring_sign_in(token_path, "resident@example.test", "hunter2", session=session)
    return token_path


def window(start_min: float, end_min: float) -> TimeWindow:
    return TimeWindow(T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min))


async def test_sign_in_asks_for_the_2fa_code_then_stores_a_private_token(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    token_path = tmp_path / "secrets" / "ring.json"
    with pytest.raises(TwoFactorRequiredError, match="verification code"):
        await ring_sign_in(token_path, "resident@example.test", "hunter2", session=session)
    assert "token" not in json.loads(token_path.read_text())
    await ring_sign_in(token_path, "resident@example.test", "hunter2", "123456", session=session)
    stored = json.loads(token_path.read_text())
    assert stored["token"]["access_token"] in fake.valid_access
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert "hunter2" not in token_path.read_text()


async def test_wrong_password_is_refused_and_stores_nothing(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    _, session = ring_cloud
    token_path = tmp_path / "ring.json"
    with pytest.raises(ReauthRequiredError, match="did not accept"):
        await ring_sign_in(token_path, "resident@example.test", "wrong", "123456", session=session)
    assert "token" not in json.loads(token_path.read_text())


async def test_history_is_paged_back_and_filtered_to_the_window(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session,
                        retry=FAST, page_size=3)
    found = await source.recordings(FRONT, window(2.5, 5.5))
    # 09:31 (ends 09:33 at the latest) through 09:35 overlap 09:32:30-09:35:30.
    assert [r.recording_id for r in found] == ["7001", "7002", "7003", "7004", "7005"]
    assert found[0].metadata["end_estimated"] == "true"
    assert found[0].metadata["time_zone"] == "America/New_York"
    pages = [q.get("older_than") for q in fake.history_queries]
    assert pages == [None, "7009", "7006", "7003"]  # stopped once a page began before the window
    cameras = await source.cameras()
    assert [(c.device_id, c.label) for c in cameras] == [
        ("987654", "Driveway"), ("987652", "Front Door"), ("987653", "Side Gate")
    ]


async def test_empty_window_returns_nothing(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    assert await source.recordings(FRONT, window(-120, -60)) == []
    assert await source.recordings(FRONT, window(60, 120)) == []


# Ring answers 404 while a fresh recording is processed, and an empty link while it prepares
# the file; both are asked for again.
@pytest.mark.parametrize("fault", ["not_found_first", "preparing_first"])
async def test_download_retries_ring_not_being_ready_then_streams_the_media_link(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path, fault: str
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    setattr(fake, fault, 2)
    path = await source.fetch(first, tmp_path / "work")
    assert path.read_bytes() == fake.clip
    assert fake.hits["media_link"] == 3 and fake.hits["media"] == 1


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("not_found_first", NoFootageError, "no longer has recording 7000"),
        ("preparing_first", SourceUnavailableError, "still preparing the file for the recording"),
    ],
)
async def test_ring_never_ready_says_why_and_keeps_nothing(
    ring_cloud: tuple[FakeRing, ClientSession],
    tmp_path: Path,
    fault: str,
    error: type[Exception],
    message: str,
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    setattr(fake, fault, 100)
    with pytest.raises(error, match=message):
        await source.fetch(first, tmp_path / "work")
    assert fake.hits["media_link"] == FAST.attempts and fake.hits["media"] == 0
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


async def test_rate_limit_backs_off_and_recovers(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    fake.rate_limited_first = 2
    assert len(await source.recordings(FRONT, window(0, 2))) == 2
    assert fake.hits["history"] >= 3
    fake.rate_limited_first = 100
    with pytest.raises(SourceUnavailableError, match="limiting"):
        await source.recordings(FRONT, window(0, 2))


async def test_401_refreshes_the_token_and_keeps_the_file_current(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    token_path = await signed_in(fake, session, tmp_path)
    source = RingSource(token_path, session=session, retry=FAST)
    await source.cameras()
    before = json.loads(token_path.read_text())["token"]["access_token"]
    fake.revoke_next_access = True
    assert len(await source.recordings(FRONT, window(0, 2))) == 2
    after = json.loads(token_path.read_text())["token"]["access_token"]
    assert after != before and after in fake.valid_access
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600


async def test_refresh_refused_asks_the_resident_to_sign_in_again(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    await source.cameras()
    fake.revoke_next_access = True
    fake.refresh_allowed = False
    with pytest.raises(ReauthRequiredError, match="sign in to Ring again"):
        await source.recordings(FRONT, window(0, 2))


async def test_expired_token_is_refreshed_before_use(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    token_path = await signed_in(fake, session, tmp_path)
    stored = json.loads(token_path.read_text())
    stored["token"]["expires_at"] = time.time() - 60
    token_path.write_text(json.dumps(stored))
    await RingSource(token_path, session=session, retry=FAST).cameras()
    assert fake.tokens_issued == 2  # sign-in, then the refresh
    assert json.loads(token_path.read_text())["token"]["access_token"] in fake.valid_access


async def test_not_signed_in_says_so(tmp_path: Path) -> None:
    with pytest.raises(ReauthRequiredError, match="signed in"):
        await RingSource(tmp_path / "none.json", retry=FAST).cameras()


async def test_no_ring_protect_plan(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    with pytest.raises(NoFootageError, match="no Ring Protect"):
        await source.recordings("987653", window(0, 2))
    assert fake.hits["history"] == 0


async def test_end_to_end_encryption(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    with pytest.raises(EncryptedFootageError, match="end-to-end encryption"):
        await source.recordings("987654", window(0, 2))


async def test_unknown_camera(ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    with pytest.raises(UnknownCameraError, match="no camera with id 500001"):
        await source.recordings("500001", window(0, 2))  # a chime is not a camera


def free_box(size: int) -> bytes:
    """An MP4 `free` box of `size` bytes: padding that players skip, so the clip stays readable."""
    return size.to_bytes(4, "big") + b"free" + bytes(size - 8)


async def test_a_recording_is_streamed_to_disk_not_held_in_memory(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    fake.clip += free_box(24 << 20)
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    tracemalloc.start()
    try:
        path = await source.fetch(first, tmp_path / "work")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.read_bytes() == fake.clip
    # Held whole, as the library's own download does, the 24 MiB body alone would peak above it.
    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB while downloading"


async def test_a_recording_larger_than_any_ring_clip_is_refused_and_nothing_kept(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    fake.clip += free_box(3 << 20)
    token = await signed_in(fake, session, tmp_path)
    source = RingSource(token, session=session, retry=FAST, max_recording_bytes=2 << 20)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    with pytest.raises(SourceUnavailableError, match="over 2 MiB for recording 7000"):
        await source.fetch(first, tmp_path / "work")
    assert fake.hits["media"] == 1  # not asked again
    assert not any((tmp_path / "work").iterdir())


async def test_a_media_link_answer_without_a_link_says_so(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    fake.link_without_url = True
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    with pytest.raises(SourceUnavailableError, match="without a link to recording 7000"):
        await source.fetch(first, tmp_path / "work")
    assert fake.hits["media"] == 0
    assert not any((tmp_path / "work").iterdir())


async def test_connection_closed_mid_download(
    ring_cloud: tuple[FakeRing, ClientSession], tmp_path: Path
) -> None:
    fake, session = ring_cloud
    source = RingSource(await signed_in(fake, session, tmp_path), session=session, retry=FAST)
    [first, *_] = await source.recordings(FRONT, window(0, 1))
    fake.cut_media = True
    with pytest.raises(SourceUnavailableError, match="broke off"):
        await source.fetch(first, tmp_path / "work")
    assert fake.hits["media"] == FAST.attempts
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
