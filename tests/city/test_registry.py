"""Camera registration, update, withdrawal and area search."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from city.app import STORE_KEY
from city.records import CameraRecord, CameraStatus
from city.registry import search_area
from city.store import CityStore
from protocol.geo import GeoPoint, distance_m
from protocol.timeutil import utcnow

from .conftest import CENTRE, Client, Gateway

type Enroll = Callable[[], Awaitable[Gateway]]
NEAR = GeoPoint(CENTRE.lat + 0.001, CENTRE.lon)  # ~111 m north
FAR = GeoPoint(CENTRE.lat + 0.05, CENTRE.lon)  # ~5.5 km north


async def _search(
    client: Client, admin: dict[str, str], point: GeoPoint, radius: float
) -> list[str]:
    response = await client.get(
        "/v1/admin/cameras/search",
        params={"lat": point.lat, "lon": point.lon, "radius_m": radius},
        headers=admin,
    )
    assert response.status == 200, await response.text()
    return [camera["registration_id"] for camera in (await response.json())["cameras"]]


async def test_register_is_idempotent(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway = await enroll()
    first = await gateway.call("POST", "/v1/cameras", gateway.registration("cam-1", CENTRE))
    assert first.status == 201
    again = await gateway.call("POST", "/v1/cameras", gateway.registration("cam-1", CENTRE))
    assert again.status == 200
    registration_id = (await first.json())["registration_id"]
    assert (await again.json())["registration_id"] == registration_id
    assert await _search(client, admin, CENTRE, 50) == [registration_id]


async def test_update_moves_the_camera(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway = await enroll()
    registration_id = await gateway.register("cam-1", CENTRE)
    assert await _search(client, admin, CENTRE, 10) == [registration_id]  # index now in memory
    moved = gateway.registration("cam-1", FAR, name="Back yard")
    response = await gateway.call("PUT", f"/v1/cameras/{registration_id}", moved)
    assert response.status == 200
    assert await _search(client, admin, CENTRE, 500) == []
    assert await _search(client, admin, FAR, 10) == [registration_id]
    assert client.app is not None
    camera = client.app[STORE_KEY].camera(registration_id)
    assert camera is not None and camera.name == "Back yard"


async def test_update_of_unknown_or_foreign_camera_is_404(client: Client, enroll: Enroll) -> None:
    owner, other = await enroll(), await enroll()
    registration_id = await owner.register("cam-1", CENTRE)
    foreign = await other.call(
        "PUT", f"/v1/cameras/{registration_id}", other.registration("cam-1", FAR)
    )
    assert foreign.status == 404
    wrong_camera = await owner.call(
        "PUT", f"/v1/cameras/{registration_id}", owner.registration("cam-2", FAR)
    )
    assert wrong_camera.status == 404
    assert client.app is not None
    camera = client.app[STORE_KEY].camera(registration_id)
    assert camera is not None and (camera.lat, camera.lon) == (CENTRE.lat, CENTRE.lon)


async def test_registration_for_another_gateway_is_refused(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    honest, other = await enroll(), await enroll()
    # Signed by `other` but naming `honest`: the city must not file it under either.
    forged = Gateway(client, key=other.key, gateway_id=honest.gateway_id).registration("c", CENTRE)
    response = await other.call("POST", "/v1/cameras", forged)
    assert response.status == 403
    # Signed by `honest`'s key but sent by `other`: the envelope does not verify for `other`.
    relayed = await other.call("POST", "/v1/cameras", honest.registration("c", CENTRE))
    assert relayed.status == 401
    assert await _search(client, admin, CENTRE, 100) == []


async def test_withdraw_removes_from_search(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway, other = await enroll(), await enroll()
    registration_id = await gateway.register("cam-1", CENTRE)
    assert (await other.call("DELETE", f"/v1/cameras/{registration_id}")).status == 404
    response = await gateway.call("DELETE", f"/v1/cameras/{registration_id}")
    assert response.status == 200
    assert (await response.json())["status"] == "withdrawn"
    assert await _search(client, admin, CENTRE, 100) == []
    assert client.app is not None
    camera = client.app[STORE_KEY].camera(registration_id)
    assert camera is not None and camera.status is CameraStatus.WITHDRAWN
    # Registering the same camera again brings it back under the same id.
    assert await gateway.register("cam-1", CENTRE) == registration_id
    assert await _search(client, admin, CENTRE, 100) == [registration_id]


async def test_search_sorts_by_distance_and_filters_exactly(
    client: Client, enroll: Enroll, admin: dict[str, str]
) -> None:
    gateway = await enroll()
    near = await gateway.register("near", NEAR)
    centre = await gateway.register("centre", CENTRE)
    await gateway.register("far", FAR)
    # The box corner lies outside the circle: a camera there is in the R*Tree box but too far.
    corner = GeoPoint(CENTRE.lat + 0.0009, CENTRE.lon + 0.0012)
    assert distance_m(CENTRE, corner) > 120
    await gateway.register("corner", corner)
    assert await _search(client, admin, CENTRE, 120) == [centre, near]


async def test_bad_search_queries_are_400(client: Client, admin: dict[str, str]) -> None:
    bad = [
        "lat=1&lon=2",
        "lat=x&lon=2&radius_m=5",
        "lat=91&lon=0&radius_m=5",
        "lat=1&lon=2&radius_m=0",
        "lat=1&lon=2&radius_m=nan",
        "lat=1&lon=2&radius_m=1e9",
    ]
    for query in bad:
        response = await client.get(f"/v1/admin/cameras/search?{query}", headers=admin)
        assert response.status == 400, query
        assert response.content_type == "application/problem+json"


def _camera(gateway_id: str, lat: float, lon: float) -> CameraRecord:
    return CameraRecord(
        registration_id=str(uuid.uuid4()), gateway_id=gateway_id, camera_id=str(uuid.uuid4()),
        name="c", lat=lat, lon=lon, precision="exact", status=CameraStatus.REGISTERED,
        registered_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z",
    )  # fmt: skip


def _search_points(
    centre: GeoPoint, radius: float, points: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Load `points` into a fresh in-memory store and search it."""
    store = CityStore(Path(":memory:"))
    try:
        now = utcnow()
        store.add_enrollment_code("h", now, now + timedelta(days=1))
        gateway_id = store.redeem_code("h", now, "device", "test")
        assert gateway_id is not None
        store.import_cameras(_camera(gateway_id, lat, lon) for lat, lon in points)
        return [(hit.lat, hit.lon) for hit in search_area(store, centre, radius)]
    finally:
        store.close()


def test_search_crosses_the_antimeridian() -> None:
    east, west = (0.0, 179.9995), (0.0, -179.9995)
    assert _search_points(GeoPoint(*east), 500, [east, west, (0.0, 179.99)]) == [east, west]
    assert sorted(_search_points(GeoPoint(*west), 500, [east, west])) == sorted([east, west])


@settings(max_examples=60, deadline=None)
@given(
    centre_lat=st.floats(-84.0, 84.0),
    centre_lon=st.floats(-180.0, 180.0),
    radius=st.floats(1.0, 10_000.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_area_search_matches_brute_force(
    centre_lat: float, centre_lon: float, radius: float, seed: int
) -> None:
    """R*Tree box plus haversine equals a scan of every camera, also across the antimeridian."""
    centre = GeoPoint(centre_lat, centre_lon)
    rng = random.Random(seed)  # noqa: S311 (test data)
    span = 3 * radius / 111_000 + 1e-4
    points = []
    for _ in range(150):
        lat = max(-90.0, min(90.0, centre.lat + rng.uniform(-span, span)))
        lon_span = span / max(0.05, math.cos(math.radians(lat)))
        lon = (centre.lon + rng.uniform(-lon_span, lon_span) + 540.0) % 360.0 - 180.0
        points.append((lat, lon))
    found = _search_points(centre, radius, points)
    expected = [p for p in points if distance_m(centre, GeoPoint(*p)) <= radius]
    assert sorted(found) == sorted(expected)
    distances = [distance_m(centre, GeoPoint(*p)) for p in found]
    assert distances == sorted(distances)
