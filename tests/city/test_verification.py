"""Verifying a received upload against its signed manifest, and the city's signed receipt."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from city.verification import (
    UploadState,
    VerificationError,
    acknowledgement,
    connect,
    load_record,
    package_path,
    verify_upload,
)
from protocol.signing import Domain, verify
from tests.city.test_uploads import send_all
from tests.gateway.delivery_harness import City, city, enroll_resident, seal_for, write_clip

__all__ = ["city"]  # fixtures
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def upload_id(tmp_path: Path, city: City) -> str:
    resident = enroll_resident(city)
    sealed = seal_for(city, resident, write_clip(tmp_path / "c.mp4", 300_000), tmp_path / "s")
    async with aiohttp.ClientSession() as session:
        location = await send_all(session, city, resident, sealed)
    return location.rsplit("/", 1)[1]


def state(city: City, upload_id: str) -> UploadState:
    with connect(city.config.db_path) as conn:
        record = load_record(conn, upload_id)
    assert record is not None
    return record.state


def check(city: City, upload_id: str) -> dict[str, object]:
    store = city.store()
    try:
        return verify_upload(city.config.db_path, city.config.uploads_dir, city.keys, upload_id,
                             store.gateway_key)
    finally:
        store.close()


async def test_a_received_upload_verifies_and_gets_a_signed_receipt(
    city: City, upload_id: str
) -> None:
    report = check(city, upload_id)
    assert report["state"] == "verified" and report["upload_id"] == upload_id
    with connect(city.config.db_path) as conn:
        record = load_record(conn, upload_id)
    assert record is not None and record.verified_at == report["verified_at"]
    receipt = acknowledgement(city.keys, record)
    body = verify(receipt, city.keys.signing.public_key(), Domain.UPLOAD_ACKNOWLEDGEMENT)
    assert body["manifest_sha256"] == record.manifest_sha256
    assert acknowledgement(city.keys, record) == receipt  # the same receipt every time


async def test_a_package_altered_after_receipt_is_rejected_with_the_reason(
    city: City, upload_id: str
) -> None:
    path = package_path(city.config.uploads_dir, upload_id)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="does not open"):
        check(city, upload_id)
    assert state(city, upload_id) is UploadState.REJECTED


async def test_an_upload_from_a_gateway_no_longer_enrolled_is_rejected(
    city: City, upload_id: str
) -> None:
    def nobody(_: str) -> Ed25519PublicKey | None:
        return None

    with pytest.raises(VerificationError, match="no longer enrolled"):
        verify_upload(city.config.db_path, city.config.uploads_dir, city.keys, upload_id, nobody)
    assert state(city, upload_id) is UploadState.REJECTED


async def test_an_unknown_upload_is_an_error(city: City) -> None:
    with pytest.raises(VerificationError, match="No upload"):
        check(city, "not-an-upload")
