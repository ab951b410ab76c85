"""Wiring: the local API, the feed loop, the upload worker and fulfilment, with a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import Executor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from protocol.messages import DeclineReply
from protocol.signing import Domain, decode_ed25519_public_key, key_id, sign
from protocol.timeutil import TimeWindow, format_time, utcnow

from .advertise import Advertiser
from .api import create_api
from .audit import AuditKind, AuditLog
from .cameras import cameras_api_json
from .capture import SourceCapture
from .cityclient import CityClient, CityError
from .config import GatewayConfig
from .events import EventBus, EventKind
from .feed import Backoff, FeedLoop, RequestIntake
from .fulfilment import Fulfilment, JobKind, preview_file
from .inbox import CameraState, Inbox, InboxRequest, PreviewStatus, RequestState
from .keys import create_api_token, load_device_key, read_api_token
from .preparation import start_redaction_worker
from .requeststate import InvalidTransitionError
from .sources.registry import SourceRegistry
from .store import GatewayStore, PinnedCity
from .uploads import UploadQueue
from .verification import ReplayGuard

_LOGGER = logging.getLogger(__name__)
_ENROLLMENT_POLL_S = 5.0


def gateway_version() -> str:
    try:
        return version("safesmart")
    except PackageNotFoundError:
        return "0.0.0"


class GatewayService:
    """The running gateway; `run()` serves until SIGTERM/SIGINT or `stop()`."""

    def __init__(self, config: GatewayConfig, *, sources: SourceRegistry | None = None) -> None:
        """`sources`: the footage sources (by default those in the data folder's sources.json;
        tests pass one whose cloud sources reach fake clouds)."""
        config.data.require()
        self.config = config
        self.layout = config.data
        self.layout.create()
        self.device_key = load_device_key(self.layout.device_key)
        create_api_token(self.layout.api_token)
        self._token = read_api_token(self.layout.api_token)
        self._token_mtime = self.layout.api_token.stat().st_mtime_ns
        self.store = GatewayStore(self.layout.db)
        self.inbox = Inbox(self.layout.db)
        self.audit = AuditLog(self.layout.db, self.device_key)
        self.replay = ReplayGuard(self.layout.db)
        self.events = EventBus()
        self.keepalive_s = config.timing.keepalive_s
        self.gateway_id = key_id(self.device_key.public_key())
        self.sources = sources or SourceRegistry(self.layout.root)
        self.capture = SourceCapture(
            self.sources, check_s=config.timing.capture_check_s,
            backoff=Backoff(config.timing.backoff_initial_s, config.timing.backoff_max_s))
        self._stop = asyncio.Event()
        self._feed: FeedLoop | None = None
        self._client: CityClient | None = None
        self._fulfilment: Fulfilment | None = None
        self._executor: Executor | None = None
        self.bound_port: int | None = None
        self._shown: set[str] = set()

    # the API's view ----------------------------------------------------------------------
    def api_token(self) -> str:
        """The token, re-read when `token --rotate` replaced the file."""
        with contextlib.suppress(OSError):
            mtime = self.layout.api_token.stat().st_mtime_ns
            if mtime != self._token_mtime:
                self._token, self._token_mtime = read_api_token(self.layout.api_token), mtime
        return self._token

    def health(self) -> dict[str, Any]:
        city = self.store.pinned_city()
        city_json = None
        if city is not None:
            feed = self._feed
            city_json = {
                "name": city.name, "url": city.url, "fingerprint": city.fingerprint,
                "connected": bool(feed and feed.connected),
                "last_contact": format_time(feed.last_contact) if feed and feed.last_contact
                else None,
                "error": feed.error if feed else None,
            }
        return {
            "status": "ok", "version": gateway_version(), "gateway_id": self.gateway_id,
            "name": self.store.name, "enrolled": city is not None,
            "privacy_mode": self.store.privacy_mode, "pending": self.inbox.pending_count(),
            "city": city_json,
        }

    def cameras_json(self) -> list[dict[str, Any]]:
        return cameras_api_json(self.store, self.sources)

    def set_privacy_mode(self, enabled: bool) -> bool:
        self.store.set_privacy_mode(enabled)
        self.events.publish(EventKind.HEALTH, self.health())
        return enabled

    def mark_shown(self, request_id: str) -> None:
        """Log the first time the resident's side fetched a request's details."""
        if request_id in self._shown:
            return
        self._shown.add(request_id)
        if all(e.kind is not AuditKind.REQUEST_SHOWN for e in self.audit.entries(request_id)):
            self.audit.append(AuditKind.REQUEST_SHOWN, request_id, {})

    def preview_path(self, request_id: str) -> Path | None:
        return preview_file(self.layout.work, request_id)

    async def approve(
        self, request_id: str, cameras: list[str] | None, window: TimeWindow | None
    ) -> InboxRequest:
        item = self.inbox.approve(request_id, cameras=cameras, window=window,
                                  decided_by="resident", now=utcnow())
        self.audit.append(AuditKind.REQUEST_DECIDED, request_id, {
            "action": "approve", "decided_by": "resident",
            "cameras": [c.registration_id for c in item.cameras
                        if c.state is not CameraState.DECLINED],
            "window": window.to_json() if window else None,
        })
        self.on_request_change(item)
        return item

    async def decline(
        self, request_id: str, cameras: list[str] | None, reply: str | None
    ) -> InboxRequest:
        item = self.inbox.decline(request_id, cameras=cameras, decided_by="resident",
                                  now=utcnow())
        declined = [c.registration_id for c in item.cameras if c.state is CameraState.DECLINED]
        self.audit.append(AuditKind.REQUEST_DECIDED, request_id, {
            "action": "decline", "decided_by": "resident", "cameras": declined,
        })
        self.on_request_change(item)
        if reply:
            item = await self._send_reply(item, declined, reply)
        return item

    async def retry(self, request_id: str, cameras: list[str] | None) -> InboxRequest:
        """Run failed cameras again from the first step that did not complete."""
        self.inbox.get(request_id)  # an unknown request is answered as such (404)
        if self._fulfilment is None:
            raise InvalidTransitionError(
                "The gateway is not connected to its city yet; retry once it is.")
        return await self._fulfilment.retry(request_id, cameras)

    async def _send_reply(
        self, item: InboxRequest, declined: list[str], reply: str
    ) -> InboxRequest:
        city = self.store.pinned_city()
        request_id = item.request.request_id
        if city is None:
            return self.inbox.set_error(request_id, "the reply could not be sent: not enrolled",
                                        utcnow())
        message = DeclineReply(request_id, city.gateway_id, tuple(declined), reply, utcnow())
        envelope = sign(self.device_key, Domain.DECLINE_REPLY, message.to_json())
        try:
            if self._client is not None:
                await self._client.send_decline_reply(request_id, envelope)
            else:
                async with CityClient(city.url, gateway_id=city.gateway_id,
                                      device_key=self.device_key) as client:
                    await client.send_decline_reply(request_id, envelope)
        except CityError as err:
            item = self.inbox.set_error(request_id, f"the reply could not be sent: {err}",
                                        utcnow())
            self.on_request_change(item)
            return item
        self.audit.append(AuditKind.DECLINE_REPLY_SENT, request_id, {"length": len(reply)})
        return item

    # reacting to changes -------------------------------------------------------------------
    def on_request_change(self, item: InboxRequest) -> None:
        """Publish the new state and start whatever work it calls for."""
        self.events.publish(EventKind.REQUEST, item.to_api_json())
        rid, fulfilment = item.request.request_id, self._fulfilment
        if fulfilment is None:
            return
        if item.state is RequestState.PENDING and item.preview is PreviewStatus.NONE:
            fulfilment.schedule(JobKind.PREVIEW, rid)
        elif item.state is RequestState.APPROVED and any(
            c.state is CameraState.APPROVED for c in item.cameras
        ):
            fulfilment.schedule(JobKind.FULFIL, rid)
        elif item.state in (RequestState.DECLINED, RequestState.EXPIRED):
            fulfilment.discard(rid)

    def _on_connectivity(self, connected: bool) -> None:
        self.events.publish(EventKind.HEALTH, self.health())

    async def _describe_sources_loop(self, stop: asyncio.Event) -> None:
        """Ask the sources for their cameras' footage spans, which the local API shows (a
        source that fails keeps its last answer, and `source list` says why)."""
        while not stop.is_set():
            try:
                await self.sources.describe()
            except Exception as exc:  # sources.json unreadable, a cloud library's own error
                _LOGGER.warning("the footage sources could not be listed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.timing.sources_refresh_s)

    async def _expire_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for item in self.inbox.expire_due(utcnow()):
                self.audit.append(AuditKind.REQUEST_EXPIRED, item.request.request_id, {})
                self.on_request_change(item)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.timing.expire_interval_s)

    # running -----------------------------------------------------------------------------
    async def _run_enrolled(self, city: PinnedCity, stop: asyncio.Event) -> None:
        timing = self.config.timing
        async with aiohttp.ClientSession() as session:
            self._client = CityClient(city.url, gateway_id=city.gateway_id,
                                      device_key=self.device_key, session=session)
            fulfilment_ref: list[Fulfilment] = []

            async def on_upload(status: Any) -> None:
                await fulfilment_ref[0].on_upload_change(status)

            uploads = UploadQueue(
                self.layout.db, city_url=city.url, gateway_id=city.gateway_id,
                device_key=self.device_key,
                city_signing_key=decode_ed25519_public_key(city.signing_key),
                on_change=on_upload, session=session,
            )
            assert self._executor is not None
            self._fulfilment = Fulfilment(
                work_dir=self.layout.work, spool_dir=self.layout.spool, store=self.store,
                inbox=self.inbox, audit=self.audit, uploads=uploads, sources=self.sources,
                device_key=self.device_key, executor=self._executor,
                profile=self.config.redaction_profile, models=self.config.redaction_models,
                time_limit=self.config.redaction_time_limit, on_change=self.on_request_change,
            )
            fulfilment_ref.append(self._fulfilment)
            intake = RequestIntake(
                store=self.store, inbox=self.inbox, audit=self.audit, replay=self.replay,
                rules_path=self.layout.rules, on_change=self.on_request_change,
            )
            self._feed = FeedLoop(
                client=self._client, store=self.store, intake=intake, wait_s=timing.feed_wait_s,
                backoff=Backoff(timing.backoff_initial_s, timing.backoff_max_s),
                on_connectivity=self._on_connectivity,
            )
            resumed = self._fulfilment.resume()
            if resumed:
                _LOGGER.info("resuming %d interrupted jobs", resumed)
            await asyncio.gather(
                self._feed.run(stop), uploads.run(stop), self._fulfilment.run(stop),
            )

    async def _supervise_city(self, stop: asyncio.Event) -> None:
        """Run the city-facing parts once enrolled (enrollment may happen while serving)."""
        while not stop.is_set():
            city = self.store.pinned_city()
            if city is not None:
                await self._run_enrolled(city, stop)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _ENROLLMENT_POLL_S)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Serve until stopped; installs SIGTERM/SIGINT handlers when on the main thread."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop.set)
        self._executor = await start_redaction_worker(
            self.config.redaction_models, self.config.redaction_time_limit)
        runner = web.AppRunner(create_api(self), handle_signals=False, access_log=None,
                               shutdown_timeout=2.0)
        await runner.setup()
        listen = self.config.listen
        site = web.TCPSite(runner, listen.host, listen.port)
        advertiser: Advertiser | None = None
        try:
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.bound_port = sockets[0].getsockname()[1] if sockets else listen.port
            _LOGGER.info("local API listening on %s:%s", listen.host, self.bound_port)
            self.store.set_setting("api_url", listen.local_url(self.bound_port))
            if not listen.is_loopback and self.config.advertise:
                advertiser = Advertiser(
                    self.gateway_id, gateway_version(), listen.host, self.bound_port)
                await advertiser.start()
            tasks = [asyncio.ensure_future(self._supervise_city(self._stop)),
                     asyncio.ensure_future(self._expire_loop(self._stop)),
                     asyncio.ensure_future(self.capture.run(self._stop)),
                     asyncio.ensure_future(self._describe_sources_loop(self._stop))]
            await self._stop.wait()
            _LOGGER.info("shutting down")
            await asyncio.wait(tasks, timeout=10.0)
            for task in tasks:
                task.cancel()
        finally:
            if advertiser is not None:
                await advertiser.stop()
            await runner.cleanup()
            await self.sources.close()
            await asyncio.to_thread(self._executor.shutdown, wait=False, cancel_futures=True)

