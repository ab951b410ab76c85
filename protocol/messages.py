"""The footage request and the optional decline reply: frozen dataclasses, strict parsing.

Every `from_json` rejects unknown, missing or mistyped fields with MalformedMessageError;
`to_json` produces the body that is signed (see protocol.signing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self

from .geo import GeoPoint
from .schema import ObjectReader
from .timeutil import TimeWindow, format_time

PROTOCOL_VERSION = 1
# Protocol-wide caps; a gateway may tighten them (gateway.verification.Caps), never loosen them.
MAX_WINDOW = timedelta(hours=12)
MAX_RADIUS_M = 800.0


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


def check_version(reader: ObjectReader) -> None:
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
        check_version(r)
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
        check_version(r)
        return cls(
            r.text("request_id", max_len=64),
            r.text("gateway_id", max_len=64),
            r.texts("registration_ids"),
            r.text("reply", max_len=2000),
            r.time("sent_at"),
        )
