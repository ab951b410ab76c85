"""Distances, coarse locations and bounding boxes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.geo import GeoPoint, bounding_box, coarsen, distance_m

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


@given(points, st.floats(min_value=1, max_value=5000), st.floats(0, 1), st.floats(0, 6.28))
def test_bounding_box_contains_circle(
    centre: GeoPoint, radius: float, fraction: float, bearing: float
) -> None:
    import math

    # A point at distance <= radius in any direction lies inside the box.
    d = radius * fraction * 0.999
    lat = centre.lat + math.degrees(d * math.cos(bearing) / 6_371_008.8)
    lon = centre.lon + math.degrees(
        d * math.sin(bearing) / (6_371_008.8 * math.cos(math.radians(centre.lat)))
    )
    min_lat, min_lon, max_lat, max_lon = bounding_box(centre, radius)
    if distance_m(centre, GeoPoint(lat, lon)) <= radius:
        assert min_lat <= lat <= max_lat and min_lon <= lon <= max_lon
