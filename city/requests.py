"""Issuing signed footage requests (one per gateway) and the per-gateway long-poll feed."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from protocol.canonical import b64encode
from protocol.messages import (
    MAX_RADIUS_M,
    MAX_WINDOW,
    Agency,
    Disclosures,
    FootageRequest,
    Incident,
    LegalBasis,
    Officer,
)
from protocol.schema import ObjectReader
from protocol.signing import Domain, sign
from protocol.timeutil import TimeWindow, utcnow

from .area_index import AreaHit
from .auth import GATEWAY_ID
from .errors import BadRequestError, UnprocessableError
from .keys import CityKeys
from .problems import json_body
from .records import IssuedRequest
from .registry import search_area
from .store import CityStore

MAX_WAIT_S: Final = 30
FEED_BATCH: Final = 100
# The protocol caps one request's registration ids; a gateway with more gets several requests.
MAX_IDS_PER_REQUEST: Final = 100
ISSUE_FIELDS: Final = frozenset(
    {"case_number", "agency", "officer", "incident", "window", "respond_by", "legal_basis",
     "disclosures"}
)  # fmt: skip


class FeedNotifier:
    """Wakes a gateway's long-polls when a request is issued to it, and all of them on shutdown.

    Versions are per gateway, so an issue costs unrelated gateways no database query.
    """

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._versions: dict[str, int] = defaultdict(int)
        self.closing = False

    def version(self, gateway_id: str) -> int:
        return self._versions[gateway_id]

    async def notify(self, gateway_ids: Iterable[str]) -> None:
        async with self._condition:
            for gateway_id in gateway_ids:
                self._versions[gateway_id] += 1
            self._condition.notify_all()

    async def close(self) -> None:
        self.closing = True
        await self.notify(())

    async def wait_past(self, gateway_id: str, version: int, seconds: float) -> None:
        """Return when the gateway's version moved past `version`, or after `seconds`."""

        def moved() -> bool:
            return self._versions[gateway_id] != version or self.closing

        async with self._condition:
            try:
                await asyncio.wait_for(self._condition.wait_for(moved), seconds)
            except TimeoutError:
                pass


def parse_issue(data: object, now: datetime) -> tuple[FootageRequest, tuple[str, ...] | None]:
    """A request template (ids empty) and the optional ids asked; caps give 422 problems."""
    r = ObjectReader(data, "request", ISSUE_FIELDS, {"registration_ids"})
    case_number = r.text("case_number", max_len=100)
    agency = Agency.from_json(r.raw("agency"), "agency")
    officer = Officer.from_json(r.raw("officer"), "officer")
    incident = Incident.from_json(r.raw("incident"), "incident")
    window = TimeWindow.from_json(r.raw("window"), "window")
    respond_by = r.time("respond_by")
    legal_basis = r.choice("legal_basis", LegalBasis)
    disclosures = Disclosures.from_json(r.raw("disclosures"), "disclosures")
    asked = r.texts("registration_ids") if r.has("registration_ids") else None
    if incident.radius_m > MAX_RADIUS_M:
        raise UnprocessableError(f"incident.radius_m is over the cap of {MAX_RADIUS_M:.0f} m")
    if window.duration > MAX_WINDOW:
        raise UnprocessableError(f"the window is over the cap of {MAX_WINDOW}")
    if window.end > now:
        raise UnprocessableError("the window ends in the future; footage must already exist")
    if respond_by <= now:
        raise UnprocessableError("respond_by must be in the future")
    template = FootageRequest(
        request_id="", nonce="", city_id="", issued_at=now, agency=agency, officer=officer,
        case_number=case_number, incident=incident, window=window, registration_ids=(),
        respond_by=respond_by, legal_basis=legal_basis, disclosures=disclosures,
    )  # fmt: skip
    return template, asked


def select_cameras(
    store: CityStore, incident: Incident, asked: tuple[str, ...] | None
) -> list[AreaHit]:
    """The cameras a request goes to: those asked (each must lie in the area) or all in it."""
    hits = search_area(store, incident.point, incident.radius_m)
    if asked is None:
        if not hits:
            raise UnprocessableError("no registered camera lies within the incident radius")
        return hits
    in_area = {hit.registration_id: hit for hit in hits}
    outside = [rid for rid in asked if rid not in in_area]
    if outside:
        raise UnprocessableError(
            f"{len(outside)} registration id(s) are unknown, withdrawn or outside the radius: "
            + ", ".join(outside[:10])
        )
    return [in_area[rid] for rid in asked]


class RequestService:
    """`POST /v1/admin/requests`, `GET /v1/feed`."""

    def __init__(self, store: CityStore, keys: CityKeys, notifier: FeedNotifier) -> None:
        self._store = store
        self._keys = keys
        self._notifier = notifier

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/admin/requests", self.issue), web.get("/v1/feed", self.feed)]

    def issue_requests(
        self, template: FootageRequest, cameras: list[AreaHit]
    ) -> list[IssuedRequest]:
        """Sign and store one request per gateway naming only that gateway's cameras."""
        by_gateway: dict[str, list[str]] = defaultdict(list)
        for hit in cameras:
            by_gateway[hit.gateway_id].append(hit.registration_id)
        issued = []
        for gateway_id, ids in sorted(by_gateway.items()):
            for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
                message = replace(
                    template,
                    request_id=str(uuid.uuid4()),
                    nonce=b64encode(os.urandom(16)),
                    city_id=self._keys.city_id,
                    registration_ids=tuple(ids[start : start + MAX_IDS_PER_REQUEST]),
                )
                envelope = sign(self._keys.signing, Domain.FOOTAGE_REQUEST, message.to_json())
                issued.append(
                    IssuedRequest(
                        request_id=message.request_id,
                        gateway_id=gateway_id,
                        case_number=message.case_number,
                        legal_basis=message.legal_basis.value,
                        incident_type=message.incident.type.value,
                        registration_ids=message.registration_ids,
                        envelope=envelope.to_json(),
                        issued_at=message.issued_at,
                    )
                )
        self._store.add_requests(issued)
        return issued

    async def issue(self, request: web.Request) -> web.Response:
        template, asked = parse_issue(json_body(request), utcnow())
        issued = self.issue_requests(
            template, select_cameras(self._store, template.incident, asked)
        )
        await self._notifier.notify({item.gateway_id for item in issued})
        return web.json_response(
            {
                "requests": [
                    {
                        "request_id": item.request_id,
                        "gateway_id": item.gateway_id,
                        "registration_ids": list(item.registration_ids),
                    }
                    for item in issued
                ]
            },
            status=201,
        )

    async def feed(self, request: web.Request) -> web.Response:
        gateway_id = request[GATEWAY_ID]
        cursor = _int_param(request.query, "cursor", 0, 0, 2**62)
        wait = _int_param(request.query, "wait", 0, 0, MAX_WAIT_S)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            version = self._notifier.version(gateway_id)
            items = self._store.feed(gateway_id, cursor, FEED_BATCH)
            remaining = deadline - asyncio.get_running_loop().time()
            if items or remaining <= 0 or self._notifier.closing:
                break
            await self._notifier.wait_past(gateway_id, version, remaining)
        return web.json_response(
            {
                "requests": [envelope for _, envelope in items],
                "cursor": items[-1][0] if items else cursor,
            }
        )


def _int_param(query: Any, name: str, default: int, minimum: int, maximum: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not minimum <= int(text) <= maximum:
        raise BadRequestError(f"{name} must be a whole number from {minimum} to {maximum}")
    return int(text)
