"""The city's tus-style upload routes, spoken to directly over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from city.verification import partial_path
from gateway.packaging import SealedClip
from protocol.custody import Acknowledgement
from protocol.signing import Domain, SignedEnvelope, sign, verify
from tests.gateway.delivery_harness import (
    City,
    Resident,
    call,
    city,
    create_headers,
    enroll_resident,
    manifest_body,
    patch_headers,
    resident,
    seal_for,
    write_clip,
)

__all__ = ["city", "resident"]  # fixtures
pytestmark = pytest.mark.timeout(60)
SIZE = 700_000


@pytest.fixture
def sealed(tmp_path: Path, city: City, resident: Resident) -> SealedClip:
    return seal_for(city, resident, write_clip(tmp_path / "clip.mp4", SIZE), tmp_path / "spool")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> tuple[int, dict[str, str]]:
    status, headers, _ = await call(
        session,
        city,
        resident,
        "POST",
        "/v1/uploads",
        manifest_body(sealed),
        create_headers(sealed),
    )
    return status, headers


async def send_all(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> str:
    status, headers = await create(session, city, resident, sealed)
    assert status == 201
    location, data = headers["Location"], sealed.package_path.read_bytes()
    status, headers, _ = await call(
        session, city, resident, "PATCH", location, data, patch_headers(0, data)
    )
    assert status == 204 and headers["Upload-Offset"] == str(len(data))
    return location


async def test_create_is_idempotent_on_the_key(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> None:
    status, first = await create(session, city, resident, sealed)
    assert status == 201
    assert first["Location"].startswith("/v1/uploads/")
    assert first["Upload-Offset"] == "0" and first["Upload-Length"] == str(sealed.ciphertext_size)
    assert first["Upload-Expires"].endswith("GMT") and first["Tus-Resumable"] == "1.0.0"
    data = sealed.package_path.read_bytes()[:1000]
    await call(session, city, resident, "PATCH", first["Location"], data, patch_headers(0, data))
    status, again = await create(session, city, resident, sealed)
    assert status == 200
    assert again["Location"] == first["Location"] and again["Upload-Offset"] == "1000"
    assert len(city.receiver().list_uploads()) == 1


async def test_head_reports_the_offset_to_its_gateway_only(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> None:
    _, created = await create(session, city, resident, sealed)
    status, headers, _ = await call(session, city, resident, "HEAD", created["Location"])
    assert status == 200
    assert headers["Upload-Offset"] == "0" and headers["Cache-Control"] == "no-store"
    other = enroll_resident(city)
    status, _, _ = await call(session, city, other, "HEAD", created["Location"])
    assert status == 404


@pytest.mark.parametrize(
    "fault",
    ["no-tus", "unsigned", "length", "key", "foreign-signer", "unknown-request", "not-addressed"],
)
async def test_bad_creates_are_refused_and_store_nothing(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    city: City,
    resident: Resident,
    sealed: SealedClip,
    fault: str,
) -> None:
    body, headers, who = manifest_body(sealed), create_headers(sealed), resident
    expected = {
        "no-tus": 412,
        "unsigned": 401,
        "length": 400,
        "key": 400,
        "foreign-signer": 422,
        "unknown-request": 404,
        "not-addressed": 403,
    }[fault]
    if fault == "no-tus":
        headers["Tus-Resumable"] = "0.2.2"
    elif fault == "length":
        headers["Upload-Length"] = str(sealed.ciphertext_size + 1)
    elif fault == "key":
        headers["Idempotency-Key"] = "0" * 64
    elif fault == "foreign-signer":
        envelope = sign(enroll_resident(city).key, Domain.UPLOAD_MANIFEST, sealed.manifest.body)
        body = json.dumps(envelope.to_json()).encode()
        headers["Idempotency-Key"] = envelope.digest()
    elif fault in ("unknown-request", "not-addressed"):
        other = enroll_resident(city)
        stray = Resident(
            other.key,
            other.gateway_id,
            resident.registration_id,
            resident.request_id
            if fault == "not-addressed"
            else "0f0f0f0f-0000-4000-8000-000000000000",
        )
        forged = seal_for(city, stray, write_clip(tmp_path / "x.mp4", 100), tmp_path / "s2")
        body, headers, who = manifest_body(forged), create_headers(forged), stray
    if fault == "unsigned":
        async with session.post(
            city.url + "/v1/uploads", data=body, headers={"Tus-Resumable": "1.0.0", **headers}
        ) as response:
            status, problem = response.status, await response.json()
    else:
        status, _, raw = await call(session, city, who, "POST", "/v1/uploads", body, headers)
        problem = json.loads(raw)
    assert status == expected, problem
    assert problem["status"] == expected and problem["detail"]
    assert city.receiver().list_uploads() == []


async def test_bad_patches_change_nothing(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> None:
    _, created = await create(session, city, resident, sealed)
    location, data = created["Location"], sealed.package_path.read_bytes()
    chunk = data[:4096]
    await call(session, city, resident, "PATCH", location, chunk, patch_headers(0, chunk))
    part = partial_path(city.config.uploads_dir, location.rsplit("/", 1)[1])
    cases = [
        (409, data[:10], patch_headers(0, data[:10]), None),  # wrong offset
        (460, chunk, patch_headers(4096, b"something else"), None),  # checksum mismatch
        (401, chunk, patch_headers(4096, chunk), b"signed for other bytes"),
        (413, data + b"x", patch_headers(4096, data + b"x"), None),  # beyond the length
        (415, chunk, {**patch_headers(4096, chunk), "Content-Type": "text/plain"}, None),
    ]
    for expected, body, headers, signed_body in cases:
        status, answer, _ = await call(
            session, city, resident, "PATCH", location, body, headers, signed_body=signed_body
        )
        assert status == expected
        if expected == 409:
            assert answer["Upload-Offset"] == "4096"
        _, head, _ = await call(session, city, resident, "HEAD", location)
        assert head["Upload-Offset"] == "4096"
        assert part.stat().st_size == 4096


async def test_receipt_waits_for_every_byte_then_is_signed_by_the_city(
    session: aiohttp.ClientSession, city: City, resident: Resident, sealed: SealedClip
) -> None:
    _, created = await create(session, city, resident, sealed)
    status, headers, _ = await call(
        session, city, resident, "GET", created["Location"] + "/receipt"
    )
    assert status == 409 and headers["Upload-Offset"] == "0"
    data = sealed.package_path.read_bytes()
    await call(session, city, resident, "PATCH", created["Location"], data, patch_headers(0, data))
    status, _, body = await call(session, city, resident, "GET", created["Location"] + "/receipt")
    assert status == 200
    envelope = SignedEnvelope.from_json(json.loads(body))
    ack = Acknowledgement.from_json(
        verify(envelope, city.keys.signing.public_key(), Domain.UPLOAD_ACKNOWLEDGEMENT)
    )
    assert ack.manifest_sha256 == sealed.upload_key
    assert ack.ciphertext_sha256 == sealed.manifest.body["ciphertext_sha256"]


async def test_termination_only_before_verification(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    city: City,
    resident: Resident,
    sealed: SealedClip,
) -> None:
    _, created = await create(session, city, resident, sealed)
    status, _, _ = await call(session, city, resident, "DELETE", created["Location"])
    assert status == 204
    status, _, _ = await call(session, city, resident, "HEAD", created["Location"])
    assert status == 404
    assert list(city.config.uploads_dir.iterdir()) == []
    location = await send_all(session, city, resident, sealed)
    assert location != created["Location"]  # a terminated upload is not handed out again
    status, _, _ = await call(session, city, resident, "DELETE", location)
    assert status == 409
    # Once verified, a different package for the same request and camera is refused.
    again = seal_for(city, resident, write_clip(tmp_path / "c2.mp4", 100), tmp_path / "spool2")
    status, _ = await create(session, city, resident, again)
    assert status == 409


async def test_an_expired_upload_is_gone_and_a_new_one_can_start(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    resident: Resident,
    city: City,
    sealed: SealedClip,
) -> None:
    await city.stop()
    city.expiry = timedelta(0)
    await city.start()
    _, created = await create(session, city, resident, sealed)
    data = sealed.package_path.read_bytes()
    status, _, _ = await call(session, city, resident, "HEAD", created["Location"])
    assert status == 410
    status, _, _ = await call(
        session, city, resident, "PATCH", created["Location"], data, patch_headers(0, data)
    )
    assert status == 410
    status, fresh = await create(session, city, resident, sealed)
    assert status == 201 and fresh["Location"] != created["Location"]
