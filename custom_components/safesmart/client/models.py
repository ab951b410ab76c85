"""Typed models of the gateway's local API documents (docs/architecture.md, "Local API")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .exceptions import SafeSmartResponseError
from .parsing import enum, flag, mapping, number, opt_fraction, opt_text, opt_time, text, time


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


@dataclass(frozen=True)
class City:
    """The city the gateway is enrolled with."""

    name: str
    url: str
    fingerprint: str
    connected: bool
    last_contact: datetime | None
    error: str | None = None  # why the gateway's latest call to the city failed

    @classmethod
    def from_json(cls, data: object) -> City:
        """Parse the health document's `city` object (an older gateway sends no `error`)."""
        doc = mapping(data, "city")
        return cls(
            name=text(doc, "name"),
            url=text(doc, "url"),
            fingerprint=text(doc, "fingerprint"),
            connected=flag(doc, "connected"),
            last_contact=opt_time(doc.get("last_contact"), "last_contact"),
            error=opt_text(doc, "error"),
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
        doc = mapping(data, "health")
        city = doc.get("city")
        return cls(
            status=text(doc, "status"),
            version=text(doc, "version"),
            gateway_id=text(doc, "gateway_id"),
            name=text(doc, "name"),
            enrolled=flag(doc, "enrolled"),
            privacy_mode=flag(doc, "privacy_mode"),
            pending=int(number(doc, "pending")),
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
        doc = mapping(data, "officer")
        return cls(text(doc, "name"), text(doc, "badge"), text(doc, "email"), text(doc, "phone"))


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
        doc = mapping(data, "incident")
        point = mapping(doc.get("point"), "incident point")
        return cls(
            type=text(doc, "type"),
            description=text(doc, "description"),
            lat=number(point, "lat"),
            lon=number(point, "lon"),
            radius_m=number(doc, "radius_m"),
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
        doc = mapping(data, "disclosures")
        return cls(
            retention_days=int(number(doc, "retention_days")),
            may_become_public_record=flag(doc, "may_become_public_record"),
            may_be_asked_to_testify=flag(doc, "may_be_asked_to_testify"),
            name_may_appear_in_court_documents=flag(doc, "name_may_appear_in_court_documents"),
            notes=opt_text(doc, "notes") or "",
        )


@dataclass(frozen=True)
class RequestCamera:
    """One of the resident's cameras named in a request."""

    registration_id: str
    name: str
    distance_m: float
    state: str
    detail: str | None
    progress: float | None = None  # 0..1 while answered, 1 delivered; older gateways omit it

    @classmethod
    def from_json(cls, data: object) -> RequestCamera:
        """Parse one entry of a request's `cameras` list."""
        doc = mapping(data, "request camera")
        return cls(
            registration_id=text(doc, "registration_id"),
            name=text(doc, "name"),
            distance_m=number(doc, "distance_m"),
            state=text(doc, "state"),
            detail=opt_text(doc, "detail"),
            progress=opt_fraction(doc, "progress"),
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
        doc = mapping(data, "request")
        agency = mapping(doc.get("agency"), "agency")
        window = mapping(doc.get("window"), "window")
        cameras = doc.get("cameras")
        if not isinstance(cameras, list):
            raise SafeSmartResponseError("Gateway sent an invalid cameras list in a request")
        preview = mapping(doc.get("preview"), "preview")
        return cls(
            id=text(doc, "id"),
            state=enum(RequestState, doc, "state"),
            received_at=time(doc.get("received_at"), "received_at"),
            updated_at=time(doc.get("updated_at"), "updated_at"),
            approval_nonce=text(doc, "approval_nonce"),
            agency_name=text(agency, "name"),
            agency_id=text(agency, "id"),
            officer=Officer.from_json(doc.get("officer")),
            case_number=text(doc, "case_number"),
            incident=Incident.from_json(doc.get("incident")),
            window_start=time(window.get("start"), "window start"),
            window_end=time(window.get("end"), "window end"),
            window_minutes=int(number(doc, "window_minutes")),
            respond_by=time(doc.get("respond_by"), "respond_by"),
            legal_basis=enum(LegalBasis, doc, "legal_basis"),
            disclosures=Disclosures.from_json(doc.get("disclosures")),
            cameras=tuple(RequestCamera.from_json(item) for item in cameras),
            preview_status=enum(PreviewStatus, preview, "status"),
            decided_by=opt_text(doc, "decided_by"),
            error=opt_text(doc, "error"),
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
        doc = mapping(data, "camera")
        footage = mapping(doc.get("footage"), "footage")
        return cls(
            registration_id=text(doc, "registration_id"),
            name=text(doc, "name"),
            source=text(doc, "source"),
            device_id=text(doc, "device_id"),
            status=enum(CameraStatus, doc, "status"),
            footage_start=opt_time(footage.get("start"), "footage start"),
            footage_end=opt_time(footage.get("end"), "footage end"),
        )


@dataclass(frozen=True)
class StreamEvent:
    """One item of the live stream: connection opened, a new or changed request, or health."""

    connected: bool = False
    request: Request | None = None
    health: Health | None = None
