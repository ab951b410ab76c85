"""Typed models of the gateway's local API documents (docs/architecture.md, "Local API")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .exceptions import SafeSmartResponseError


class RequestState(StrEnum):
    """State of a footage request in the gateway's inbox."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    FAILED = "failed"


class LegalBasis(StrEnum):
    """Legal basis the city gives for a request."""

    VOLUNTARY = "voluntary"
    SUBPOENA = "subpoena"
    WARRANT = "warrant"


class CameraStatus(StrEnum):
    """Registration status of a camera with the city."""

    REGISTERED = "registered"
    PENDING = "pending"
    WITHDRAWN = "withdrawn"
    ERROR = "error"


class PreviewStatus(StrEnum):
    """Whether a redacted preview of a request exists."""

    NONE = "none"
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"


def _obj(data: object, field: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SafeSmartResponseError(f"Gateway sent an invalid {field}: expected an object")
    return data


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected text")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected text")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected true or false")
    return value


def _num(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected a number")
    return float(value)


def _time(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: {value!r}") from err
    if parsed.tzinfo is None:
        raise SafeSmartResponseError(f"Gateway sent a timestamp without time zone in {key}")
    return parsed


def _opt_time(value: object, key: str) -> datetime | None:
    return None if value is None else _time(value, key)


def _enum[E: StrEnum](kind: type[E], data: Mapping[str, Any], key: str) -> E:
    value = _str(data, key)
    try:
        return kind(value)
    except ValueError as err:
        raise SafeSmartResponseError(f"Gateway sent an unknown {key}: {value!r}") from err


@dataclass(frozen=True)
class City:
    """The city the gateway is enrolled with."""

    name: str
    url: str
    fingerprint: str
    connected: bool
    last_contact: datetime | None

    @classmethod
    def from_json(cls, data: object) -> City:
        """Parse the health document's `city` object."""
        obj = _obj(data, "city")
        return cls(
            name=_str(obj, "name"),
            url=_str(obj, "url"),
            fingerprint=_str(obj, "fingerprint"),
            connected=_bool(obj, "connected"),
            last_contact=_opt_time(obj.get("last_contact"), "last_contact"),
        )


@dataclass(frozen=True)
class Health:
    """Answer of GET /api/v1/health."""

    status: str
    version: str
    gateway_id: str
    name: str
    enrolled: bool
    privacy_mode: bool
    pending: int
    city: City | None

    @classmethod
    def from_json(cls, data: object) -> Health:
        """Parse a health document."""
        obj = _obj(data, "health")
        city = obj.get("city")
        return cls(
            status=_str(obj, "status"),
            version=_str(obj, "version"),
            gateway_id=_str(obj, "gateway_id"),
            name=_str(obj, "name"),
            enrolled=_bool(obj, "enrolled"),
            privacy_mode=_bool(obj, "privacy_mode"),
            pending=int(_num(obj, "pending")),
            city=None if city is None else City.from_json(city),
        )


@dataclass(frozen=True)
class Officer:
    """Officer contact given with a request (personal data: redacted in diagnostics)."""

    name: str
    badge: str
    email: str
    phone: str

    @classmethod
    def from_json(cls, data: object) -> Officer:
        """Parse a request's `officer` object."""
        obj = _obj(data, "officer")
        return cls(_str(obj, "name"), _str(obj, "badge"), _str(obj, "email"), _str(obj, "phone"))


@dataclass(frozen=True)
class Incident:
    """What happened and where."""

    type: str
    description: str
    lat: float
    lon: float
    radius_m: float

    @classmethod
    def from_json(cls, data: object) -> Incident:
        """Parse a request's `incident` object."""
        obj = _obj(data, "incident")
        point = _obj(obj.get("point"), "incident point")
        return cls(
            type=_str(obj, "type"),
            description=_str(obj, "description"),
            lat=_num(point, "lat"),
            lon=_num(point, "lon"),
            radius_m=_num(obj, "radius_m"),
        )


@dataclass(frozen=True)
class Disclosures:
    """What the city says will happen to the footage and to the resident."""

    retention_days: int
    may_become_public_record: bool
    may_be_asked_to_testify: bool
    name_may_appear_in_court_documents: bool
    notes: str

    @classmethod
    def from_json(cls, data: object) -> Disclosures:
        """Parse a request's `disclosures` object."""
        obj = _obj(data, "disclosures")
        return cls(
            retention_days=int(_num(obj, "retention_days")),
            may_become_public_record=_bool(obj, "may_become_public_record"),
            may_be_asked_to_testify=_bool(obj, "may_be_asked_to_testify"),
            name_may_appear_in_court_documents=_bool(obj, "name_may_appear_in_court_documents"),
            notes=_opt_str(obj, "notes") or "",
        )


@dataclass(frozen=True)
class RequestCamera:
    """One of the resident's cameras named in a request."""

    registration_id: str
    name: str
    distance_m: float
    state: str
    detail: str | None

    @classmethod
    def from_json(cls, data: object) -> RequestCamera:
        """Parse one entry of a request's `cameras` list."""
        obj = _obj(data, "request camera")
        return cls(
            registration_id=_str(obj, "registration_id"),
            name=_str(obj, "name"),
            distance_m=_num(obj, "distance_m"),
            state=_str(obj, "state"),
            detail=_opt_str(obj, "detail"),
        )


@dataclass(frozen=True)
class Request:
    """A footage request as the gateway's inbox holds it."""

    id: str
    state: RequestState
    received_at: datetime
    updated_at: datetime
    approval_nonce: str
    agency_name: str
    agency_id: str
    officer: Officer
    case_number: str
    incident: Incident
    window_start: datetime
    window_end: datetime
    window_minutes: int
    respond_by: datetime
    legal_basis: LegalBasis
    disclosures: Disclosures
    cameras: tuple[RequestCamera, ...]
    preview_status: PreviewStatus
    decided_by: str | None
    error: str | None

    @classmethod
    def from_json(cls, data: object) -> Request:
        """Parse a Request document."""
        obj = _obj(data, "request")
        agency = _obj(obj.get("agency"), "agency")
        window = _obj(obj.get("window"), "window")
        cameras = obj.get("cameras")
        if not isinstance(cameras, list):
            raise SafeSmartResponseError("Gateway sent an invalid cameras list in a request")
        preview = _obj(obj.get("preview"), "preview")
        return cls(
            id=_str(obj, "id"),
            state=_enum(RequestState, obj, "state"),
            received_at=_time(obj.get("received_at"), "received_at"),
            updated_at=_time(obj.get("updated_at"), "updated_at"),
            approval_nonce=_str(obj, "approval_nonce"),
            agency_name=_str(agency, "name"),
            agency_id=_str(agency, "id"),
            officer=Officer.from_json(obj.get("officer")),
            case_number=_str(obj, "case_number"),
            incident=Incident.from_json(obj.get("incident")),
            window_start=_time(window.get("start"), "window start"),
            window_end=_time(window.get("end"), "window end"),
            window_minutes=int(_num(obj, "window_minutes")),
            respond_by=_time(obj.get("respond_by"), "respond_by"),
            legal_basis=_enum(LegalBasis, obj, "legal_basis"),
            disclosures=Disclosures.from_json(obj.get("disclosures")),
            cameras=tuple(RequestCamera.from_json(item) for item in cameras),
            preview_status=_enum(PreviewStatus, preview, "status"),
            decided_by=_opt_str(obj, "decided_by"),
            error=_opt_str(obj, "error"),
        )


@dataclass(frozen=True)
class Camera:
    """A camera registered (or being registered) with the city."""

    registration_id: str
    name: str
    source: str
    device_id: str
    status: CameraStatus
    footage_start: datetime | None
    footage_end: datetime | None

    @classmethod
    def from_json(cls, data: object) -> Camera:
        """Parse a Camera document."""
        obj = _obj(data, "camera")
        footage = _obj(obj.get("footage"), "footage")
        return cls(
            registration_id=_str(obj, "registration_id"),
            name=_str(obj, "name"),
            source=_str(obj, "source"),
            device_id=_str(obj, "device_id"),
            status=_enum(CameraStatus, obj, "status"),
            footage_start=_opt_time(footage.get("start"), "footage start"),
            footage_end=_opt_time(footage.get("end"), "footage end"),
        )


@dataclass(frozen=True)
class StreamEvent:
    """One item of the live stream: connection opened, a new or changed request, or health."""

    connected: bool = False
    request: Request | None = None
    health: Health | None = None
