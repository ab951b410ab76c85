"""Strict parsing of protocol messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from protocol.custody import Manifest
from protocol.errors import MalformedMessageError
from protocol.geo import GeoPoint
from protocol.messages import FootageRequest
from protocol.registration import CameraLocation, CameraRegistration, LocationPrecision
from protocol.timeutil import TimeWindow


def test_footage_request_round_trips(footage_request: FootageRequest) -> None:
    assert FootageRequest.from_json(footage_request.to_json()) == footage_request


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(extra=1), "unknown fields ['extra']"),
        (lambda d: d.pop("nonce"), "missing fields ['nonce']"),
        (lambda d: d["incident"].update(radius_m="300"), "incident.radius_m: expected a number"),
        (lambda d: d["incident"]["point"].update(lat=91), "out of range"),
        (lambda d: d.update(legal_basis="hunch"), "legal_basis: expected one of"),
        (lambda d: d["window"].update(start="yesterday"), "window.start: expected an RFC 3339"),
        (lambda d: d["window"].update(end=d["window"]["start"]), "end must be after start"),
        (lambda d: d.update(registration_ids=[]), "registration_ids: expected a list"),
        (lambda d: d.update(registration_ids=["a", "a"]), "duplicate entries"),
        (lambda d: d["disclosures"].update(may_become_public_record=1), "expected true or false"),
        (lambda d: d["disclosures"].update(extra_note="x"), "unknown fields ['extra_note']"),
        (lambda d: d.update(version=2), "version: must be in [1, 1]"),
        (lambda d: d.update(request_id="Not-A-UUID"), "request_id: expected a lower-case UUID"),
        (lambda d: d.update(nonce="AAAA"), "nonce: expected 16 random bytes"),
        (lambda d: d.update(nonce="a+b/"), "nonce: expected base64url"),
        (lambda d: d.update(case_number="x" * 101), "longer than 100"),
        (lambda d: d.update(issued_at="2026-11-21T10:00:00"), "issued_at"),
    ],
)
def test_footage_request_rejects_bad_fields(
    footage_request: FootageRequest, mutate: Any, message: str
) -> None:
    data = copy.deepcopy(footage_request.to_json())
    mutate(data)
    with pytest.raises(
        MalformedMessageError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        FootageRequest.from_json(data)


def test_camera_registration_round_trips() -> None:
    registration = CameraRegistration(
        "gw-1",
        "cam-1",
        "Front door",
        CameraLocation(GeoPoint(41.5, -81.7), LocationPrecision.BLOCK),
    )
    assert CameraRegistration.from_json(registration.to_json()) == registration


def test_manifest_checks_hashes(footage_request: FootageRequest) -> None:
    manifest = Manifest(
        request_id=footage_request.request_id,
        gateway_id="gw-1",
        registration_id="reg-1",
        part=1,
        parts=2,
        clip=TimeWindow(footage_request.window.start, footage_request.window.end),
        original_sha256="a" * 64,
        redacted_sha256="b" * 64,
        ciphertext_sha256="c" * 64,
        ciphertext_size=1234,
        redaction={"profile": "standard"},
        source={"kind": "folder"},
        audit_checkpoint={"size": 3},
        created_at=footage_request.issued_at,
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    beyond = manifest.to_json() | {"part": 3}
    with pytest.raises(MalformedMessageError, match="part 3 of 2"):
        Manifest.from_json(beyond)
    data = manifest.to_json()
    data["ciphertext_sha256"] = "C" * 64
    with pytest.raises(MalformedMessageError, match="ciphertext_sha256"):
        Manifest.from_json(data)
