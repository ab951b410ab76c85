"""The protocol's messages: frozen dataclasses with strict JSON parsing.

Every `from_json` rejects unknown, missing or mistyped fields with MalformedMessageError;
`to_json` produces the body that is signed (see protocol.signing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self

from .errors import MalformedMessageError
from .geo import GeoPoint
from .schema import ObjectReader
from .timeutil import TimeWindow, format_time

PROTOCOL_VERSION = 1
# Protocol-wide caps; a gateway may tighten them (gateway.verification.Caps), never loosen them.
MAX_WINDOW = timedelta(hours=12)
MAX_RADIUS_M = 800.0
# At most this many clips (recordings) per camera and request.
MAX_PARTS = 100


class LegalBasis(StrEnum):
    VOLUNTARY = "voluntary"
    SUBPOENA = "subpoena"
    WARRANT = "warrant"


class IncidentType(StrEnum):
    BURGLARY = "burglary"
    THEFT = "theft"
    VEHICLE_CRIME = "vehicle_crime"
    ROBBERY = "robbery"
    ASSAULT = "assault"
    VANDALISM = "vandalism"
    MISSING_PERSON = "missing_person"
    TRAFFIC_COLLISION = "traffic_collision"
    HOMICIDE = "homicide"
    OTHER = "other"


class LocationPrecision(StrEnum):
    BLOCK = "block"
    EXACT = "exact"


def _version(reader: ObjectReader) -> None:
    reader.integer("version", minimum=PROTOCOL_VERSION, maximum=PROTOCOL_VERSION)


@dataclass(frozen=True)
class Agency:
    name: str
    id: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id}

    @classmethod
    def from_json(cls, data: object, where: str = "agency") -> Self:
        r = ObjectReader(data, where, {"name", "id"})
        return cls(r.text("name", max_len=200), r.text("id", max_len=100))


@dataclass(frozen=True)
class Officer:
    name: str
    badge: str
    email: str
    phone: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "badge": self.badge, "email": self.email, "phone": self.phone}

    @classmethod
    def from_json(cls, data: object, where: str = "officer") -> Self:
        r = ObjectReader(data, where, {"name", "badge", "email", "phone"})
        return cls(
            r.text("name", max_len=200),
            r.text("badge", max_len=50, allow_empty=True),
            r.text("email", max_len=200, allow_empty=True),
            r.text("phone", max_len=50, allow_empty=True),
        )


@dataclass(frozen=True)
class Incident:
    type: IncidentType
    description: str
    point: GeoPoint
    radius_m: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "description": self.description,
            "point": self.point.to_json(),
            "radius_m": self.radius_m,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "incident") -> Self:
        r = ObjectReader(data, where, {"type", "description", "point", "radius_m"})
        return cls(
            r.choice("type", IncidentType),
            r.text("description", max_len=2000),
            GeoPoint.from_json(r.raw("point"), r.path("point")),
            r.number("radius_m", minimum=1.0, maximum=100_000.0),
        )


@dataclass(frozen=True)
class Disclosures:
    """What the city tells the resident before they decide."""

    retention_days: int
    may_become_public_record: bool
    may_be_asked_to_testify: bool
    name_may_appear_in_court_documents: bool
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "retention_days": self.retention_days,
            "may_become_public_record": self.may_become_public_record,
            "may_be_asked_to_testify": self.may_be_asked_to_testify,
            "name_may_appear_in_court_documents": self.name_may_appear_in_court_documents,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "disclosures") -> Self:
        r = ObjectReader(
            data,
            where,
            {
                "retention_days",
                "may_become_public_record",
                "may_be_asked_to_testify",
                "name_may_appear_in_court_documents",
                "notes",
            },
        )
        return cls(
            r.integer("retention_days", minimum=0, maximum=36500),
            r.boolean("may_become_public_record"),
            r.boolean("may_be_asked_to_testify"),
            r.boolean("name_may_appear_in_court_documents"),
            r.text("notes", max_len=2000, allow_empty=True),
        )


@dataclass(frozen=True)
class FootageRequest:
    """A city's signed, scoped request for footage from some of one gateway's cameras."""

    request_id: str
    nonce: str
    city_id: str
    issued_at: datetime
    agency: Agency
    officer: Officer
    case_number: str
    incident: Incident
    window: TimeWindow
    registration_ids: tuple[str, ...]
    respond_by: datetime
    legal_basis: LegalBasis
    disclosures: Disclosures

    FIELDS = frozenset(
        {
            "version", "request_id", "nonce", "city_id", "issued_at", "agency", "officer",
            "case_number", "incident", "window", "registration_ids", "respond_by",
            "legal_basis", "disclosures",
        }
    )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "request_id": self.request_id,
            "nonce": self.nonce,
            "city_id": self.city_id,
            "issued_at": format_time(self.issued_at),
            "agency": self.agency.to_json(),
            "officer": self.officer.to_json(),
            "case_number": self.case_number,
            "incident": self.incident.to_json(),
            "window": self.window.to_json(),
            "registration_ids": list(self.registration_ids),
            "respond_by": format_time(self.respond_by),
            "legal_basis": self.legal_basis.value,
            "disclosures": self.disclosures.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "footage_request") -> Self:
        r = ObjectReader(data, where, cls.FIELDS)
        _version(r)
        return cls(
            request_id=r.uuid("request_id"),
            nonce=r.nonce("nonce"),
            city_id=r.text("city_id", max_len=100),
            issued_at=r.time("issued_at"),
            agency=Agency.from_json(r.raw("agency"), r.path("agency")),
            officer=Officer.from_json(r.raw("officer"), r.path("officer")),
            case_number=r.text("case_number", max_len=100),
            incident=Incident.from_json(r.raw("incident"), r.path("incident")),
            window=TimeWindow.from_json(r.raw("window"), r.path("window")),
            registration_ids=r.texts("registration_ids"),
            respond_by=r.time("respond_by"),
            legal_basis=r.choice("legal_basis", LegalBasis),
            disclosures=Disclosures.from_json(r.raw("disclosures"), r.path("disclosures")),
        )


@dataclass(frozen=True)
class CameraLocation:
    point: GeoPoint
    precision: LocationPrecision

    def to_json(self) -> dict[str, Any]:
        return {"point": self.point.to_json(), "precision": self.precision.value}

    @classmethod
    def from_json(cls, data: object, where: str = "location") -> Self:
        r = ObjectReader(data, where, {"point", "precision"})
        return cls(
            GeoPoint.from_json(r.raw("point"), r.path("point")),
            r.choice("precision", LocationPrecision),
        )


@dataclass(frozen=True)
class CameraRegistration:
    """A gateway's registration of one camera; signed by the gateway's device key."""

    gateway_id: str
    camera_id: str
    name: str
    location: CameraLocation

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "gateway_id": self.gateway_id,
            "camera_id": self.camera_id,
            "name": self.name,
            "location": self.location.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "camera_registration") -> Self:
        r = ObjectReader(data, where, {"version", "gateway_id", "camera_id", "name", "location"})
        _version(r)
        return cls(
            r.text("gateway_id", max_len=64),
            r.text("camera_id", max_len=64),
            r.text("name", max_len=100),
            CameraLocation.from_json(r.raw("location"), r.path("location")),
        )


@dataclass(frozen=True)
class EnrollmentRequest:
    """A gateway asking to enroll with a one-time code; carries its device public key."""

    code: str
    device_key: str
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "device_key": self.device_key, "label": self.label}

    @classmethod
    def from_json(cls, data: object, where: str = "enrollment_request") -> Self:
        r = ObjectReader(data, where, {"code", "device_key", "label"})
        return cls(
            r.text("code", max_len=64),
            r.text("device_key", max_len=64),
            r.text("label", max_len=100, allow_empty=True),
        )


@dataclass(frozen=True)
class CityIdentity:
    """The keys a gateway pins at enrollment (base64url raw public keys)."""

    city_id: str
    name: str
    signing_key: str
    encryption_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "city_id": self.city_id,
            "name": self.name,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "city") -> Self:
        r = ObjectReader(data, where, {"city_id", "name", "signing_key", "encryption_key"})
        return cls(
            r.text("city_id", max_len=100),
            r.text("name", max_len=200),
            r.text("signing_key", max_len=64),
            r.text("encryption_key", max_len=64),
        )


@dataclass(frozen=True)
class EnrollmentGrant:
    """The city's answer to an enrollment; signed by the city key it carries."""

    gateway_id: str
    city: CityIdentity
    issued_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "gateway_id": self.gateway_id,
            "city": self.city.to_json(),
            "issued_at": format_time(self.issued_at),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "enrollment_grant") -> Self:
        r = ObjectReader(data, where, {"version", "gateway_id", "city", "issued_at"})
        _version(r)
        return cls(
            r.text("gateway_id", max_len=64),
            CityIdentity.from_json(r.raw("city"), r.path("city")),
            r.time("issued_at"),
        )


@dataclass(frozen=True)
class Manifest:
    """Chain of custody for one sealed clip; signed by the gateway's device key.

    A camera's answer is one clip per original recording that overlaps the window (motion
    clips leave gaps; joining them would hide that): `part` of `parts`, numbered from 1.
    """

    request_id: str
    gateway_id: str
    registration_id: str
    part: int
    parts: int
    clip: TimeWindow
    original_sha256: str
    redacted_sha256: str
    ciphertext_sha256: str
    ciphertext_size: int
    redaction: dict[str, Any]
    source: dict[str, Any]
    audit_checkpoint: dict[str, Any]
    created_at: datetime

    FIELDS = frozenset(
        {
            "version", "request_id", "gateway_id", "registration_id", "part", "parts", "clip",
            "original_sha256",
            "redacted_sha256", "ciphertext_sha256", "ciphertext_size", "redaction", "source",
            "audit_checkpoint", "created_at",
        }
    )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "request_id": self.request_id,
            "gateway_id": self.gateway_id,
            "registration_id": self.registration_id,
            "part": self.part,
            "parts": self.parts,
            "clip": self.clip.to_json(),
            "original_sha256": self.original_sha256,
            "redacted_sha256": self.redacted_sha256,
            "ciphertext_sha256": self.ciphertext_sha256,
            "ciphertext_size": self.ciphertext_size,
            "redaction": self.redaction,
            "source": self.source,
            "audit_checkpoint": self.audit_checkpoint,
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "manifest") -> Self:
        r = ObjectReader(data, where, cls.FIELDS)
        _version(r)
        return cls(
            request_id=r.text("request_id", max_len=64),
            gateway_id=r.text("gateway_id", max_len=64),
            registration_id=r.text("registration_id", max_len=64),
            part=r.integer("part", minimum=1, maximum=MAX_PARTS),
            parts=r.integer("parts", minimum=1, maximum=MAX_PARTS),
            clip=TimeWindow.from_json(r.raw("clip"), r.path("clip")),
            original_sha256=r.sha256("original_sha256"),
            redacted_sha256=r.sha256("redacted_sha256"),
            ciphertext_sha256=r.sha256("ciphertext_sha256"),
            ciphertext_size=r.integer("ciphertext_size", minimum=1),
            redaction=r.obj("redaction"),
            source=r.obj("source"),
            audit_checkpoint=r.obj("audit_checkpoint"),
            created_at=r.time("created_at"),
        )

    def __post_init__(self) -> None:
        if not 1 <= self.part <= self.parts:
            raise MalformedMessageError(f"manifest: part {self.part} of {self.parts}")


@dataclass(frozen=True)
class Acknowledgement:
    """The city's receipt for a verified upload; signed by the city key."""

    upload_id: str
    request_id: str
    registration_id: str
    manifest_sha256: str
    ciphertext_sha256: str
    received_at: datetime

    FIELDS = frozenset(
        {
            "version", "upload_id", "request_id", "registration_id", "manifest_sha256",
            "ciphertext_sha256", "received_at",
        }
    )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "upload_id": self.upload_id,
            "request_id": self.request_id,
            "registration_id": self.registration_id,
            "manifest_sha256": self.manifest_sha256,
            "ciphertext_sha256": self.ciphertext_sha256,
            "received_at": format_time(self.received_at),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "acknowledgement") -> Self:
        r = ObjectReader(data, where, cls.FIELDS)
        _version(r)
        return cls(
            r.text("upload_id", max_len=64),
            r.text("request_id", max_len=64),
            r.text("registration_id", max_len=64),
            r.sha256("manifest_sha256"),
            r.sha256("ciphertext_sha256"),
            r.time("received_at"),
        )


@dataclass(frozen=True)
class DeclineReply:
    """An optional reply to a decline; sent only when the resident writes one."""

    request_id: str
    gateway_id: str
    registration_ids: tuple[str, ...]
    reply: str
    sent_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "request_id": self.request_id,
            "gateway_id": self.gateway_id,
            "registration_ids": list(self.registration_ids),
            "reply": self.reply,
            "sent_at": format_time(self.sent_at),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "decline_reply") -> Self:
        r = ObjectReader(
            data,
            where,
            {"version", "request_id", "gateway_id", "registration_ids", "reply", "sent_at"},
        )
        _version(r)
        return cls(
            r.text("request_id", max_len=64),
            r.text("gateway_id", max_len=64),
            r.texts("registration_ids"),
            r.text("reply", max_len=2000),
            r.time("sent_at"),
        )
