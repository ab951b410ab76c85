"""Points on the Earth: distance, coarse location, bounding boxes for area search."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import MalformedMessageError

EARTH_RADIUS_M = 6_371_008.8
# A coarse location is the centre of a cell of this many degrees of latitude (about 110 m,
# "about a block"); the longitude step is widened with latitude so cells stay roughly square.
COARSE_CELL_DEG = 0.001


@dataclass(frozen=True)
class GeoPoint:
    """A WGS 84 point in decimal degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0) or not (-180.0 <= self.lon <= 180.0):
            raise ValueError(f"coordinates out of range: {self.lat}, {self.lon}")

    def to_json(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}

    @classmethod
    def from_json(cls, data: object, field: str = "point") -> GeoPoint:
        if not isinstance(data, dict) or set(data) != {"lat", "lon"}:
            raise MalformedMessageError(f"{field}: expected an object with exactly lat and lon")
        lat, lon = data["lat"], data["lon"]
        for name, value in (("lat", lat), ("lon", lon)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MalformedMessageError(f"{field}.{name}: expected a number")
        try:
            return cls(float(lat), float(lon))
        except ValueError as err:
            raise MalformedMessageError(f"{field}: {err}") from err


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def coarsen(point: GeoPoint) -> GeoPoint:
    """The centre of the ~110 m cell holding `point`: what a registry learns by default."""
    lat_cell = math.floor(point.lat / COARSE_CELL_DEG)
    lat = (lat_cell + 0.5) * COARSE_CELL_DEG
    lon_step = COARSE_CELL_DEG / max(math.cos(math.radians(lat)), 0.01)
    lon = (math.floor(point.lon / lon_step) + 0.5) * lon_step
    return GeoPoint(round(min(90.0, max(-90.0, lat)), 6), round(min(180.0, max(-180.0, lon)), 6))


Box = tuple[float, float, float, float]
_PAD_DEG = 1e-7


def bounding_boxes(centre: GeoPoint, radius_m: float) -> list[Box]:
    """Boxes (min_lat, min_lon, max_lat, max_lon) that together enclose the circle.

    Exact bounds on the sphere: the circle's widest longitude lies poleward of its centre
    (half-width asin(sin(d) / cos(lat))); a circle over a pole spans every longitude, and one
    over the antimeridian is split into two boxes.
    """
    angular = radius_m / EARTH_RADIUS_M
    lat = math.radians(centre.lat)
    # Padded by ~1 cm so that rounding never leaves a point on the circle outside.
    lo_lat = max(-90.0, math.degrees(lat - angular) - _PAD_DEG)
    hi_lat = min(90.0, math.degrees(lat + angular) + _PAD_DEG)
    if lo_lat <= -90.0 or hi_lat >= 90.0 or angular >= math.pi / 2:
        return [(lo_lat, -180.0, hi_lat, 180.0)]
    half_width = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(lat)))) + _PAD_DEG
    west, east = centre.lon - half_width, centre.lon + half_width
    if west < -180.0:
        return [(lo_lat, -180.0, hi_lat, east), (lo_lat, west + 360.0, hi_lat, 180.0)]
    if east > 180.0:
        return [(lo_lat, west, hi_lat, 180.0), (lo_lat, -180.0, hi_lat, east - 360.0)]
    return [(lo_lat, west, hi_lat, east)]
