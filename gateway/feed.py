"""The outbound long-poll loop toward the city, and intake of each envelope it brings."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from protocol.geo import GeoPoint, distance_m
from protocol.signing import decode_ed25519_public_key
from protocol.timeutil import utcnow

from .audit import AuditKind, AuditLog
from .cityclient import CityClient, CityError, CityRejectedError
from .decisions import RuleAction, RulesError, decide, load_rules
from .inbox import Inbox, InboxError, InboxRequest
from .store import GatewayStore
from .verification import (
    ReplayGuard,
    RequestRejectedError,
    verify_footage_request,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**attempt))."""

    initial_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_s, self.initial_s * (2 ** min(attempt, 30)))
        return (rng or random).uniform(0.0, ceiling)


class RequestIntake:
    """Verify → inbox → consent rules, for one envelope at a time; rejects never reach the inbox."""

    def __init__(
        self,
        *,
        store: GatewayStore,
        inbox: Inbox,
        audit: AuditLog,
        replay: ReplayGuard,
        rules_path: Path,
        on_change: Callable[[InboxRequest], None],
    ) -> None:
        self._store = store
        self._inbox = inbox
        self._audit = audit
        self._replay = replay
        self._rules_path = rules_path
        self._on_change = on_change

    def accept(self, data: object, now: datetime | None = None) -> InboxRequest | None:
        """Process one raw envelope; returns the inbox entry, or None if it was rejected."""
        now = now or utcnow()
        city = self._store.pinned_city()
        if city is None:
            return None
        registered = self._store.registered_ids()
        cameras = {
            c.registration_id: c for c in self._store.cameras(include_withdrawn=False)
            if c.registration_id is not None and c.registration_id in registered
        }
        try:
            request, envelope = verify_footage_request(
                data,
                city_key=decode_ed25519_public_key(city.signing_key),
                city_id=city.city_id,
                registration_ids=set(cameras),
                caps=self._store.caps(),
                replay=self._replay,
                now=now,
            )
        except RequestRejectedError as err:
            _LOGGER.warning("rejected a footage request: %s", err)
            # The claimed id is recorded as data, never as the entry's request id: a forger
            # must not be able to attach entries to a genuine request's history.
            self._audit.append(AuditKind.REQUEST_REJECTED, None, {
                "reason": err.reason.value, "detail": str(err)[:300],
                "claimed_request_id": _request_id_of(data),
            }, now)
            return None
        incident = request.incident.point
        placed = [
            (rid, cameras[rid].name,
             round(distance_m(GeoPoint(cameras[rid].lat, cameras[rid].lon), incident), 1))
            for rid in request.registration_ids if rid in cameras
        ]
        item = self._inbox.add(request, envelope, placed, now)
        self._audit.append(AuditKind.REQUEST_RECEIVED, request.request_id, {
            "case_number": request.case_number, "agency": request.agency.name,
            "legal_basis": request.legal_basis.value, "cameras": [p[0] for p in placed],
            "envelope_sha256": envelope.digest(),
        }, now)
        _LOGGER.info("footage request received (%s)", request.case_number)
        self._on_change(item)
        return self._apply_rules(item, {rid: dist for rid, _, dist in placed}, now)

    def _apply_rules(
        self, item: InboxRequest, distances: dict[str, float], now: datetime
    ) -> InboxRequest:
        try:
            rules = load_rules(self._rules_path)
        except RulesError as err:
            # A broken rules file must never approve anything: fall back to asking the resident.
            _LOGGER.error("consent rules ignored: %s", err)
            rules = []
        decision = decide(item.request, distances, rules, self._store.privacy_mode)
        if decision is None:
            return item
        request_id = item.request.request_id
        if decision.decided_by.startswith("rule:"):
            self._audit.append(AuditKind.RULE_MATCHED, request_id, {
                "rule": decision.decided_by.removeprefix("rule:"),
                "action": decision.action.value, "cameras": list(decision.cameras),
            }, now)
        cameras = list(decision.cameras) or None
        try:
            if decision.action is RuleAction.APPROVE:
                item = self._inbox.approve(
                    request_id, cameras=cameras, window=None, decided_by=decision.decided_by,
                    now=now,
                )
            else:
                item = self._inbox.decline(
                    request_id, cameras=cameras, decided_by=decision.decided_by, now=now
                )
        except InboxError as err:
            _LOGGER.error("could not apply %s: %s", decision.decided_by, err)
            return item
        self._audit.append(AuditKind.REQUEST_DECIDED, request_id, {
            "action": decision.action.value, "decided_by": decision.decided_by,
            "cameras": [c.registration_id for c in item.cameras if c.state.value != "declined"],
        }, now)
        self._on_change(item)
        return item


def _request_id_of(data: object) -> str | None:
    """The request id a (possibly bad) envelope claims, for the audit record; never trusted."""
    if isinstance(data, dict) and isinstance(data.get("body"), dict):
        rid = data["body"].get("request_id")
        if isinstance(rid, str) and 0 < len(rid) <= 64:
            return rid
    return None


class FeedLoop:
    """Long-polls the city for new requests; backs off on failure and logs loss/recovery once."""

    def __init__(
        self,
        *,
        client: CityClient,
        store: GatewayStore,
        intake: RequestIntake,
        wait_s: int,
        backoff: Backoff,
        on_connectivity: Callable[[bool], None],
    ) -> None:
        self._client = client
        self._store = store
        self._intake = intake
        self._wait_s = wait_s
        self._backoff = backoff
        self._on_connectivity = on_connectivity
        self.connected = False
        self.last_contact: datetime | None = None
        self.error: str | None = None  # why the latest poll failed; None once one succeeds

    def _set_connected(self, connected: bool, reason: str = "") -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            _LOGGER.info("connected to the city")
        else:
            _LOGGER.warning("lost contact with the city: %s; retrying with backoff", reason)
        self._on_connectivity(connected)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set."""
        failures = 0
        while not stop.is_set():
            # Until the city has answered once, ask without waiting, so that connectivity (and
            # the health the resident sees) is known at once rather than after a long-poll.
            wait_s = self._wait_s if self.connected else 0
            poll = asyncio.ensure_future(self._client.feed(self._store.feed_cursor, wait_s))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({poll, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if poll not in done:
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
                break
            stopper.cancel()
            try:
                page = poll.result()
            except CityError as err:
                failures += 1
                self.error = str(err)
                # A refusal (4xx) is as much "not working" as an outage; both back off.
                self._set_connected(False, str(err))
                delay = self._backoff.delay(failures)
                if isinstance(err, CityRejectedError) and err.status in (401, 403):
                    delay = max(delay, self._backoff.max_s / 2)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                continue
            failures = 0
            self.last_contact = utcnow()
            self.error = None
            self._set_connected(True)
            for envelope in page.requests:
                try:
                    self._intake.accept(envelope)
                except Exception:  # one bad item must not stall the feed for the rest
                    _LOGGER.exception("could not process a footage request")
            self._store.set_feed_cursor(page.cursor)
