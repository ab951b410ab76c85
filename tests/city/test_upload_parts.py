"""A camera's answer in parts: one upload per part, parts bound by the sealing context."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from city.opening import open_upload
from gateway.packaging import SealedClip
from protocol.custody import Manifest
from protocol.signing import Domain, sign
from tests.city.test_uploads import create, send_all
from tests.gateway.delivery_harness import (
    City,
    Resident,
    call,
    city,
    resident,
    seal_for,
    write_clip,
)

__all__ = ["city", "resident"]  # fixtures
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def seal_part(tmp_path: Path, city: City, resident: Resident, part: int, parts: int,
              size: int = 50_000) -> SealedClip:
    clip = write_clip(tmp_path / f"clip-{part}-{parts}-{size}.mp4", size)
    return seal_for(city, resident, clip, tmp_path / f"spool-{part}-{parts}-{size}",
                    part=part, parts=parts)


def resigned_as(sealed: SealedClip, resident: Resident, part: int) -> SealedClip:
    """The same package under a manifest the gateway re-signed with another part number."""
    manifest = replace(Manifest.from_json(sealed.manifest.body), part=part)
    envelope = sign(resident.key, Domain.UPLOAD_MANIFEST, manifest.to_json())
    return replace(sealed, manifest=envelope, upload_key=envelope.digest(),
                   part=manifest.part, parts=manifest.parts)


async def test_two_parts_arrive_verify_and_open_with_their_part(
    tmp_path: Path, session: aiohttp.ClientSession, city: City, resident: Resident
) -> None:
    first, second = (seal_part(tmp_path, city, resident, n, 2) for n in (1, 2))
    for sealed in (first, second):
        await send_all(session, city, resident, sealed)
    uploads = sorted(city.receiver().list_uploads(), key=lambda u: int(str(u["part"])))
    assert [(u["part"], u["parts"], u["state"]) for u in uploads] == [
        (1, 2, "verified"), (2, 2, "verified")]
    for upload, sealed in zip(uploads, (first, second), strict=True):
        out = tmp_path / f"opened-{upload['part']}.mp4"
        opened = open_upload(city.config.db_path, city.config.uploads_dir, city.keys,
                             str(upload["upload_id"]), out)
        assert (opened["part"], opened["parts"]) == (sealed.part, 2)
        assert out.stat().st_size == 50_000
    # the same part again: the same upload, not a second one
    status, headers = await create(session, city, resident, second)
    assert status == 200 and headers["Upload-Offset"] == str(second.ciphertext_size)
    assert len(city.receiver().list_uploads()) == 2
    # a different package for an already verified part is refused
    other = seal_part(tmp_path, city, resident, 2, 2, size=60_000)
    status, _ = await create(session, city, resident, other)
    assert status == 409
    assert len(city.receiver().list_uploads()) == 2


async def test_a_part_replayed_under_another_part_number_does_not_open(
    tmp_path: Path, session: aiohttp.ClientSession, city: City, resident: Resident
) -> None:
    second = seal_part(tmp_path, city, resident, 2, 2)
    replayed = resigned_as(second, resident, part=1)     # part 2's bytes claimed as part 1
    location = await send_all(session, city, resident, replayed)
    status, _, body = await call(session, city, resident, "GET", location + "/receipt")
    assert status == 422
    assert "does not open" in json.loads(body)["detail"]
    [upload] = city.receiver().list_uploads()
    assert upload["state"] == "rejected" and upload["part"] == 1


async def test_parts_that_disagree_on_their_count_are_refused(
    tmp_path: Path, session: aiohttp.ClientSession, city: City, resident: Resident
) -> None:
    await send_all(session, city, resident, seal_part(tmp_path, city, resident, 1, 2))
    odd = seal_part(tmp_path, city, resident, 2, 3)
    status, _, body = await call(
        session, city, resident, "POST", "/v1/uploads",
        json.dumps(odd.manifest.to_json()).encode(),
        {"Content-Type": "application/json", "Upload-Length": str(odd.ciphertext_size),
         "Idempotency-Key": odd.upload_key},
    )
    assert status == 422 and "announced in 2 parts" in json.loads(body)["detail"]
    assert len(city.receiver().list_uploads()) == 1
    # a manifest claiming a part beyond its count does not parse at all
    data = odd.manifest.body | {"part": 4}
    beyond = sign(resident.key, Domain.UPLOAD_MANIFEST, data)
    status, _, _ = await call(
        session, city, resident, "POST", "/v1/uploads", json.dumps(beyond.to_json()).encode(),
        {"Content-Type": "application/json", "Upload-Length": str(odd.ciphertext_size),
         "Idempotency-Key": beyond.digest()},
    )
    assert status == 422
    assert len(city.receiver().list_uploads()) == 1
