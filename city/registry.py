"""The camera registry: gateways register, update and withdraw cameras; operators search areas."""

from __future__ import annotations

import uuid
from typing import Any, Final

from aiohttp import web

from protocol.geo import GeoPoint, bounding_boxes
from protocol.registration import CameraRegistration
from protocol.signing import Domain, SignedEnvelope, verify
from protocol.timeutil import format_time, utcnow

from .area_index import AreaHit
from .auth import GATEWAY_ID
from .errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from .problems import json_body
from .records import CameraRecord, CameraStatus
from .store import CityStore

MAX_SEARCH_RADIUS_M: Final = 10_000.0


def search_area(store: CityStore, centre: GeoPoint, radius_m: float) -> list[AreaHit]:
    """Registered cameras within `radius_m` of `centre`, nearest first.

    The R*Tree gives the bounding-box candidates; the exact haversine distance decides.
    """
    return store.search(bounding_boxes(centre, radius_m), centre, radius_m)


def describe(store: CityStore, hits: list[AreaHit]) -> list[dict[str, Any]]:
    """Hits as the admin API shows them: the full camera record plus its distance."""
    records = store.cameras([hit.registration_id for hit in hits])
    return [
        {**records[hit.registration_id].to_json(), "distance_m": round(hit.distance_m, 1)}
        for hit in hits
        if hit.registration_id in records
    ]


class RegistryService:
    """Camera registration routes (gateway-signed) and area search (admin)."""

    def __init__(self, store: CityStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/cameras", self.register),
            web.put("/v1/cameras/{registration_id}", self.update),
            web.delete("/v1/cameras/{registration_id}", self.withdraw),
            web.get("/v1/admin/cameras/search", self.search),
        ]

    def _verified_registration(self, request: web.Request) -> tuple[CameraRecord, dict[str, Any]]:
        """The camera described by the body, signed by the gateway that sent the request."""
        gateway_id = request[GATEWAY_ID]
        envelope = SignedEnvelope.from_json(json_body(request))
        public_key = self._store.gateway_key(gateway_id)
        if public_key is None:
            raise UnauthorizedError("unknown gateway")
        registration = CameraRegistration.from_json(
            verify(envelope, public_key, Domain.CAMERA_REGISTRATION)
        )
        if registration.gateway_id != gateway_id:
            raise ForbiddenError("a gateway can only register its own cameras")
        now = format_time(utcnow())
        point = registration.location.point
        camera = CameraRecord(
            registration_id=str(uuid.uuid4()),
            gateway_id=gateway_id,
            camera_id=registration.camera_id,
            name=registration.name,
            lat=point.lat,
            lon=point.lon,
            precision=registration.location.precision.value,
            status=CameraStatus.REGISTERED,
            registered_at=now,
            updated_at=now,
        )
        return camera, envelope.to_json()

    async def register(self, request: web.Request) -> web.Response:
        camera, envelope = self._verified_registration(request)
        registration_id = self._store.upsert_camera(camera, envelope)
        status = 201 if registration_id == camera.registration_id else 200
        return web.json_response({"registration_id": registration_id}, status=status)

    async def update(self, request: web.Request) -> web.Response:
        camera, envelope = self._verified_registration(request)
        registration_id = request.match_info["registration_id"]
        if not self._store.update_camera(registration_id, camera, envelope):
            raise NotFoundError("no camera of this gateway has that registration id and camera id")
        return web.json_response({"registration_id": registration_id})

    async def withdraw(self, request: web.Request) -> web.Response:
        registration_id = request.match_info["registration_id"]
        if not self._store.withdraw_camera(registration_id, request[GATEWAY_ID], utcnow()):
            raise NotFoundError("no camera of this gateway has that registration id")
        return web.json_response(
            {"registration_id": registration_id, "status": CameraStatus.WITHDRAWN.value}
        )

    async def search(self, request: web.Request) -> web.Response:
        centre, radius = parse_area(request.query)
        hits = search_area(self._store, centre, radius)
        return web.json_response({"cameras": describe(self._store, hits)})


def parse_area(query: Any) -> tuple[GeoPoint, float]:
    """`lat`, `lon` and `radius_m` from a query string; 400 with the reason otherwise."""
    values: dict[str, float] = {}
    for name in ("lat", "lon", "radius_m"):
        text = query.get(name)
        if text is None:
            raise BadRequestError(f"the query needs {name}")
        try:
            values[name] = float(text)
        except ValueError as err:
            raise BadRequestError(f"{name} must be a number, got {text!r}") from err
    radius = values["radius_m"]
    if not 0 < radius <= MAX_SEARCH_RADIUS_M:
        raise BadRequestError(f"radius_m must be in (0, {MAX_SEARCH_RADIUS_M:.0f}]")
    try:
        return GeoPoint(values["lat"], values["lon"]), radius
    except ValueError as err:
        raise BadRequestError(str(err)) from err
