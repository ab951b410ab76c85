"""Chain of custody: the manifest a gateway signs for each sealed clip, and the city's receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from .errors import MalformedMessageError
from .messages import PROTOCOL_VERSION, check_version
from .schema import ObjectReader
from .timeutil import TimeWindow, format_time

# At most this many clips (recordings) per camera and request.
MAX_PARTS = 100


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
        check_version(r)
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
        check_version(r)
        return cls(
            r.text("upload_id", max_len=64),
            r.text("request_id", max_len=64),
            r.text("registration_id", max_len=64),
            r.sha256("manifest_sha256"),
            r.sha256("ciphertext_sha256"),
            r.time("received_at"),
        )
