"""Opening a verified upload for an investigator; anything else is refused and writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

from city.opening import open_upload
from city.verification import VerificationError, package_path
from tests.city.test_uploads import create, send_all
from tests.gateway.delivery_harness import City, city, enroll_resident, seal_for, write_video

__all__ = ["city"]  # fixtures
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "redacted.mp4")


@pytest.fixture
async def upload_id(tmp_path: Path, city: City, clip: Path) -> str:
    resident = enroll_resident(city)
    sealed = seal_for(city, resident, clip, tmp_path / "spool")
    async with aiohttp.ClientSession() as session:
        location = await send_all(session, city, resident, sealed)
    return location.rsplit("/", 1)[1]


def read(path: Path) -> bytes:
    return path.read_bytes()


def open_to(city: City, upload_id: str, out: Path) -> dict[str, object]:
    return open_upload(city.config.db_path, city.config.uploads_dir, city.keys, upload_id, out)


async def test_a_verified_upload_opens_to_the_redacted_clip(
    tmp_path: Path, city: City, upload_id: str, clip: Path
) -> None:
    report = open_to(city, upload_id, tmp_path / "out.mp4")
    assert read(tmp_path / "out.mp4") == read(clip)
    assert report["out_sha256"] == hashlib.sha256(read(clip)).hexdigest()
    assert isinstance(report["manifest"], dict)
    assert report["manifest"]["redacted_sha256"] == report["out_sha256"]


async def test_a_truncated_package_is_refused(tmp_path: Path, city: City, upload_id: str) -> None:
    path = package_path(city.config.uploads_dir, upload_id)
    with path.open("r+b") as package:
        package.truncate(path.stat().st_size - 16)
    with pytest.raises(VerificationError, match="truncated"):
        open_to(city, upload_id, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


async def test_a_package_altered_in_storage_is_refused(
    tmp_path: Path, city: City, upload_id: str
) -> None:
    path = package_path(city.config.uploads_dir, upload_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="no longer opens"):
        open_to(city, upload_id, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


async def test_an_unfinished_upload_and_an_existing_output_are_refused(
    tmp_path: Path, city: City, upload_id: str, clip: Path
) -> None:
    resident = enroll_resident(city)
    sealed = seal_for(city, resident, clip, tmp_path / "spool2")
    async with aiohttp.ClientSession() as session:
        _, created = await create(session, city, resident, sealed)
    unfinished = created["Location"].rsplit("/", 1)[1]
    with pytest.raises(VerificationError, match="only verified uploads"):
        open_to(city, unfinished, tmp_path / "out.mp4")
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(VerificationError, match="already exists"):
        open_to(city, upload_id, existing)
    assert existing.read_bytes() == b"keep me"
