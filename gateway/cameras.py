"""Registering cameras with the city (coarse location unless the resident opts in), withdrawing."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.geo import GeoPoint, coarsen
from protocol.registration import CameraLocation, CameraRegistration, LocationPrecision
from protocol.signing import Domain, sign
from protocol.timeutil import format_time, utcnow

from .cityclient import CityClient
from .config import GatewayError
from .redaction.regions import validate_polygon
from .sources.base import SourceError
from .store import CameraRecord, CameraStatus, GatewayStore, Polygon

if TYPE_CHECKING:  # the registry imports the Ring and Nest clients
    from .sources.registry import SourceInfo, SourceRegistry


class CameraError(GatewayError):
    """A camera could not be added, found or withdrawn."""


@dataclass(frozen=True)
class NewCamera:
    """What the resident typed for `camera add`."""

    name: str
    lat: float
    lon: float
    source: str
    device_id: str
    exact_location: bool = False
    masks: tuple[Polygon, ...] = ()


def parse_mask(text: str) -> Polygon:
    """Parse "x,y x,y x,y" (normalised 0..1) into a privacy mask (`validate_polygon`)."""
    points: list[tuple[float, float]] = []
    for pair in text.split():
        try:
            x_text, y_text = pair.split(",")
            x, y = float(x_text), float(y_text)
        except ValueError as err:
            raise CameraError(f"mask point {pair!r} must look like 0.1,0.2") from err
        points.append((x, y))
    try:
        return validate_polygon(tuple(points))
    except ValueError as err:
        raise CameraError(f"bad mask {text!r}: {err}") from None


def registration_location(camera: NewCamera | CameraRecord, exact: bool) -> CameraLocation:
    """The location the city is told: the ~110 m cell centre unless the resident chose exact."""
    point = GeoPoint(camera.lat, camera.lon)
    if exact:
        return CameraLocation(point, LocationPrecision.EXACT)
    return CameraLocation(coarsen(point), LocationPrecision.BLOCK)


async def add_camera(
    store: GatewayStore, device_key: Ed25519PrivateKey, client: CityClient, camera: NewCamera,
    now: datetime | None = None,
) -> CameraRecord:
    """Register `camera` with the city, then remember it (with its exact location) locally."""
    city = store.pinned_city()
    if city is None:
        raise CameraError("enroll with your city first (`safesmart-gateway enroll`)")
    if not camera.name.strip():
        raise CameraError("give the camera a name")
    try:
        GeoPoint(camera.lat, camera.lon)
    except ValueError as err:
        raise CameraError("latitude must be within -90..90 and longitude within -180..180") from err
    if store.find_camera(camera.name) is not None:
        raise CameraError(f"a camera named {camera.name!r} is already registered")
    camera_id = str(uuid.uuid4())
    registration = CameraRegistration(
        gateway_id=city.gateway_id, camera_id=camera_id, name=camera.name,
        location=registration_location(camera, camera.exact_location),
    )
    envelope = sign(device_key, Domain.CAMERA_REGISTRATION, registration.to_json())
    registration_id = await client.register_camera(envelope)
    moment = now or utcnow()
    record = CameraRecord(
        camera_id=camera_id, registration_id=registration_id, name=camera.name,
        source=camera.source, device_id=camera.device_id, lat=camera.lat, lon=camera.lon,
        precision=registration.location.precision.value, masks=camera.masks,
        status=CameraStatus.REGISTERED, created_at=moment, updated_at=moment,
    )
    store.add_camera(record)
    return record


async def withdraw_camera(
    store: GatewayStore, client: CityClient, key: str, now: datetime | None = None
) -> CameraRecord:
    """Withdraw the camera named (or with id) `key` at the city, then mark it withdrawn."""
    camera = store.find_camera(key)
    if camera is None:
        raise CameraError(f"no registered camera {key!r}; see `safesmart-gateway camera list`")
    if camera.registration_id is not None:
        await client.withdraw_camera(camera.registration_id)
    store.set_camera_status(camera.camera_id, CameraStatus.WITHDRAWN, now)
    return camera


def camera_api_json(
    camera: CameraRecord, footage: tuple[str | None, str | None] = (None, None)
) -> dict[str, object]:
    """The local API's Camera object (exact location: it never leaves the home through this API)."""
    return {
        "registration_id": camera.registration_id,
        "name": camera.name,
        "source": camera.source,
        "device_id": camera.device_id,
        "status": camera.status.value,
        "location": {"lat": camera.lat, "lon": camera.lon, "precision": camera.precision},
        "footage": {"start": footage[0], "end": footage[1]},
    }


def cameras_api_json(store: GatewayStore, sources: SourceRegistry) -> list[dict[str, object]]:
    """Every camera as the local API's Camera object, with the footage its source holds."""
    infos: dict[str, SourceInfo] = {}
    with contextlib.suppress(SourceError, OSError, ValueError):
        # a broken sources.json must not hide the cameras themselves
        infos = {info.name: info for info in sources.list()}
    out = []
    for camera in store.cameras():
        info = infos.get(camera.source)
        span: tuple[str | None, str | None] = (None, None)
        for known in info.cameras if info else ():
            if known.device_id == camera.device_id:
                span = (_time_or_none(known.footage_start), _time_or_none(known.footage_end))
        item = camera_api_json(camera, span)
        item["source"] = info.kind.value if info else camera.source
        out.append(item)
    return out


def _time_or_none(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None
