"""Distances, coarse locations and bounding boxes."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from protocol.geo import EARTH_RADIUS_M, GeoPoint, bounding_boxes, coarsen, distance_m

points = st.builds(
    GeoPoint,
    st.floats(min_value=-80, max_value=80, allow_nan=False),
    st.floats(min_value=-179, max_value=179, allow_nan=False),
)


def test_known_distance() -> None:
    # One degree of latitude along a meridian is pi * R / 180 on the mean-radius sphere.
    assert abs(distance_m(GeoPoint(41.0, -81.7), GeoPoint(42.0, -81.7)) - 111_195.08) < 0.1
    # A quarter of the equator.
    assert abs(distance_m(GeoPoint(0, 0), GeoPoint(0, 90)) - 10_007_557.2) < 1


@given(points)
def test_coarse_location_stays_within_a_block(point: GeoPoint) -> None:
    coarse = coarsen(point)
    assert distance_m(point, coarse) < 110
    assert coarsen(coarse) == coarse


anywhere = st.builds(
    GeoPoint,
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


def inside(point: GeoPoint, boxes: list[tuple[float, float, float, float]]) -> bool:
    return any(
        lo_lat <= point.lat <= hi_lat and lo_lon <= point.lon <= hi_lon
        for lo_lat, lo_lon, hi_lat, hi_lon in boxes
    )


@given(anywhere, st.floats(min_value=1, max_value=50_000), anywhere)
def test_bounding_boxes_hold_every_point_of_the_circle(
    centre: GeoPoint, radius: float, point: GeoPoint
) -> None:
    # Any point within the radius lies in one of the boxes, near the poles and the antimeridian too.
    if distance_m(centre, point) <= radius:
        assert inside(point, bounding_boxes(centre, radius))


@given(anywhere, st.floats(min_value=1, max_value=50_000), st.floats(0, 2 * math.pi))
def test_points_on_the_circle_are_inside(centre: GeoPoint, radius: float, bearing: float) -> None:
    # The destination point at exactly `radius` on any bearing (incl. the poleward widest point).
    d = radius / EARTH_RADIUS_M * (1 - 1e-9)
    lat1, lon1 = math.radians(centre.lat), math.radians(centre.lon)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(lat1),
        math.cos(d) - math.sin(lat1) * math.sin(lat2),
    )
    lon = (math.degrees(lon2) + 540.0) % 360.0 - 180.0
    assert inside(GeoPoint(math.degrees(lat2), lon), bounding_boxes(centre, radius))


def test_antimeridian_and_pole() -> None:
    assert len(bounding_boxes(GeoPoint(10.0, 179.999), 1000)) == 2
    assert bounding_boxes(GeoPoint(89.999, 0.0), 1000)[0][1:4:2] == (-180.0, 180.0)
