"""Public figures about the programme: what was registered, asked, answered and delivered."""

from __future__ import annotations

import statistics
from typing import Any

from aiohttp import web

from protocol.timeutil import parse_time

from .records import CameraStatus
from .store import CityStore


def figures(store: CityStore) -> dict[str, Any]:
    """The transparency figures; upload figures are zero until the uploads table exists."""
    cameras = store.query(
        "SELECT COUNT(*) FROM cameras WHERE status = ?", (CameraStatus.REGISTERED.value,)
    )[0][0]
    gateways = store.query("SELECT COUNT(*) FROM gateways")[0][0]
    issued = store.query("SELECT COUNT(*), COUNT(DISTINCT case_number) FROM footage_requests")[0]
    by_basis = dict(
        store.query("SELECT legal_basis, COUNT(*) FROM footage_requests GROUP BY legal_basis")
    )
    by_type = dict(
        store.query("SELECT incident_type, COUNT(*) FROM footage_requests GROUP BY incident_type")
    )
    declined = store.query("SELECT COUNT(*) FROM decline_replies")[0][0]
    answered, verified, median_s = 0, 0, None
    if store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'uploads'"):
        # A camera's answer counts once, when every part of it is verified, at the time its
        # last part was.
        answers = store.query(
            "SELECT u.request_id, r.issued_at, MAX(u.verified_at) FROM uploads u "
            "JOIN footage_requests r ON r.request_id = u.request_id "
            "WHERE u.state = 'verified' AND u.verified_at IS NOT NULL "
            "GROUP BY u.request_id, u.registration_id "
            "HAVING COUNT(DISTINCT u.part) = MAX(u.parts)"
        )
        answered = len({request_id for request_id, _, _ in answers})
        delays = [
            (parse_time(verified_at) - parse_time(issued_at)).total_seconds()
            for _, issued_at, verified_at in answers
        ]
        verified = len(delays)
        median_s = round(statistics.median(delays), 1) if delays else None
    return {
        "cameras_registered": cameras,
        "gateways_enrolled": gateways,
        "requests_issued": {
            "total": issued[0],
            "cases": issued[1],
            "by_legal_basis": by_basis,
            "by_incident_type": by_type,
        },
        "requests_answered": answered,
        "declined_if_told": declined,
        "uploads_verified": verified,
        "median_issue_to_verified_upload_s": median_s,
    }


class TransparencyService:
    """`GET /v1/transparency` (public)."""

    def __init__(self, store: CityStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/transparency", self.transparency)]

    async def transparency(self, request: web.Request) -> web.Response:
        return web.json_response(figures(self._store))
