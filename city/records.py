"""Values the city stores: registered cameras and issued requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class CameraStatus(StrEnum):
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class CameraRecord:
    """One registered camera as the city knows it."""

    registration_id: str
    gateway_id: str
    camera_id: str
    name: str
    lat: float
    lon: float
    precision: str
    status: CameraStatus
    registered_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "gateway_id": self.gateway_id,
            "camera_id": self.camera_id,
            "name": self.name,
            "location": {"lat": self.lat, "lon": self.lon, "precision": self.precision},
            "status": self.status.value,
            "registered_at": self.registered_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class IssuedRequest:
    """A signed footage request addressed to one gateway."""

    request_id: str
    gateway_id: str
    case_number: str
    legal_basis: str
    incident_type: str
    registration_ids: tuple[str, ...]
    envelope: dict[str, Any]
    issued_at: datetime
