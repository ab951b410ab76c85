"""Enrollment and camera registration: how a gateway and a city learn each other's keys,
and what a city learns about a camera (a coarse location unless the resident opts in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from .geo import GeoPoint
from .messages import PROTOCOL_VERSION, check_version
from .schema import ObjectReader
from .timeutil import format_time


class LocationPrecision(StrEnum):
    BLOCK = "block"
    EXACT = "exact"


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
        check_version(r)
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
        check_version(r)
        return cls(
            r.text("gateway_id", max_len=64),
            CityIdentity.from_json(r.raw("city"), r.path("city")),
            r.time("issued_at"),
        )
