"""In-memory columns behind the R*Tree: each indexed camera's exact point and owner.

The R*Tree (in SQLite) finds the candidate ids inside a bounding box in about a millisecond;
reading one table row per candidate would then dominate (thousands of page lookups in a
dense city). These columns, keyed by the R*Tree id, let a search finish in memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from protocol.geo import EARTH_RADIUS_M, GeoPoint, distance_m

REGISTRATION_ID_BYTES: Final = 36  # a UUID in text form
# Distances this close to the radius are recomputed with protocol.geo.distance_m, so the
# vectorised arithmetic never decides a borderline camera differently from the protocol.
BORDER_M: Final = 1e-6


class AreaHit(NamedTuple):
    """A camera inside a searched circle (a NamedTuple: thousands are built per search)."""

    registration_id: str
    gateway_id: str
    lat: float
    lon: float
    distance_m: float


class AreaIndex:
    """Registration id, gateway and exact lat/lon per R*Tree id; grows by doubling."""

    def __init__(self, capacity: int = 1024) -> None:
        self._registration: npt.NDArray[np.bytes_] = np.zeros(
            capacity, dtype=f"S{REGISTRATION_ID_BYTES}"
        )
        self._gateway: npt.NDArray[np.int32] = np.zeros(capacity, dtype=np.int32)
        self._lat: npt.NDArray[np.float64] = np.zeros(capacity, dtype=np.float64)
        self._lon: npt.NDArray[np.float64] = np.zeros(capacity, dtype=np.float64)
        self._gateway_ids: list[str] = []
        self._gateway_refs: dict[str, int] = {}

    def put(
        self, row_id: int, registration_id: str, gateway_id: str, lat: float, lon: float
    ) -> None:
        """Record (or replace) the camera with R*Tree id `row_id`."""
        encoded = registration_id.encode("ascii")
        if len(encoded) > REGISTRATION_ID_BYTES:
            raise ValueError(f"registration id longer than {REGISTRATION_ID_BYTES} bytes")
        if row_id >= len(self._lat):
            self._grow(max(row_id + 1, 2 * len(self._lat)))
        ref = self._gateway_refs.get(gateway_id)
        if ref is None:
            ref = self._gateway_refs[gateway_id] = len(self._gateway_ids)
            self._gateway_ids.append(gateway_id)
        self._registration[row_id] = encoded
        self._gateway[row_id] = ref
        self._lat[row_id] = lat
        self._lon[row_id] = lon

    def within(self, row_ids: Sequence[int], centre: GeoPoint, radius_m: float) -> list[AreaHit]:
        """The candidates exactly within `radius_m` of `centre` (haversine), nearest first."""
        if not row_ids:
            return []
        ids = np.fromiter(row_ids, dtype=np.int64, count=len(row_ids))
        lat, lon = self._lat[ids], self._lon[ids]
        phi1, phi2 = math.radians(centre.lat), np.radians(lat)
        h = (
            np.sin((phi2 - phi1) / 2) ** 2
            + math.cos(phi1) * np.cos(phi2) * np.sin(np.radians(lon - centre.lon) / 2) ** 2
        )
        distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        keep = distance <= radius_m
        for index in np.flatnonzero(np.abs(distance - radius_m) <= BORDER_M):
            exact = distance_m(centre, GeoPoint(float(lat[index]), float(lon[index])))
            distance[index] = exact
            keep[index] = exact <= radius_m
        chosen = np.flatnonzero(keep)
        chosen = chosen[np.argsort(distance[chosen], kind="stable")]
        gateways = self._gateway_ids
        return [
            AreaHit(registration.decode("ascii"), gateways[gateway], la, lo, d)
            for registration, gateway, la, lo, d in zip(
                self._registration[ids[chosen]].tolist(),
                self._gateway[ids[chosen]].tolist(),
                lat[chosen].tolist(),
                lon[chosen].tolist(),
                distance[chosen].tolist(),
                strict=True,
            )
        ]

    def _grow(self, capacity: int) -> None:
        self._registration = _grown(self._registration, capacity)
        self._gateway = _grown(self._gateway, capacity)
        self._lat = _grown(self._lat, capacity)
        self._lon = _grown(self._lon, capacity)


def _grown[T: np.generic](array: npt.NDArray[T], capacity: int) -> npt.NDArray[T]:
    bigger = np.zeros(capacity, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
