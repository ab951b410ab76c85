"""Sealing a redacted clip into the spool with a signed manifest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.packaging import PackagingError, SealedClip, package_context, seal_clip
from protocol.custody import Manifest
from protocol.errors import SealedPackageError
from protocol.sealing import open_file
from protocol.signing import Domain, verify
from protocol.timeutil import TimeWindow
from tests.gateway.delivery_harness import write_video

DEVICE = Ed25519PrivateKey.generate()
CITY = X25519PrivateKey.generate()
WINDOW = TimeWindow(
    datetime(2026, 11, 20, 22, 0, tzinfo=UTC), datetime(2026, 11, 20, 22, 5, tzinfo=UTC)
)


def seal(clip: Path, spool: Path, request_id: str = "req-1", part: int = 1,
         parts: int = 1) -> SealedClip:
    return seal_clip(
        redacted=clip, spool_dir=spool, device_key=DEVICE,
        city_encryption_key=CITY.public_key(), gateway_id="gw-1", request_id=request_id,
        registration_id="cam-1", part=part, parts=parts, clip=WINDOW, original_sha256="ab" * 32,
        redaction={"profile": "standard"}, source={"kind": "folder"},
        audit_checkpoint={"size": 1, "root": "cd" * 32},
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "redacted.mp4")


def test_a_sealed_clip_carries_a_signed_manifest_of_what_it_holds(
    tmp_path: Path, clip: Path
) -> None:
    sealed = seal(clip, tmp_path / "spool")
    manifest = Manifest.from_json(verify(sealed.manifest, DEVICE.public_key(),
                                         Domain.UPLOAD_MANIFEST))
    package = sealed.package_path.read_bytes()
    assert sealed.upload_key == sealed.manifest.digest()
    assert manifest.redacted_sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert manifest.ciphertext_sha256 == hashlib.sha256(package).hexdigest()
    assert manifest.ciphertext_size == sealed.ciphertext_size == len(package)
    assert (manifest.request_id, manifest.registration_id, manifest.clip) == ("req-1", "cam-1",
                                                                              WINDOW)
    assert (manifest.part, manifest.parts) == (sealed.part, sealed.parts) == (1, 1)
    opened = tmp_path / "opened.mp4"
    open_file(sealed.package_path, opened, CITY, package_context("req-1", "cam-1", 1))
    assert opened.read_bytes() == clip.read_bytes()


def test_the_package_only_opens_for_its_own_request(tmp_path: Path, clip: Path) -> None:
    sealed = seal(clip, tmp_path / "spool")
    with pytest.raises(SealedPackageError):
        open_file(sealed.package_path, tmp_path / "o", CITY,
                  package_context("req-2", "cam-1", 1))
    assert not (tmp_path / "o").exists()


def test_a_part_cannot_be_replayed_as_another_part(tmp_path: Path, clip: Path) -> None:
    second = seal(clip, tmp_path / "spool", part=2, parts=3)
    assert "part2" in second.package_path.name
    with pytest.raises(SealedPackageError):
        open_file(second.package_path, tmp_path / "o", CITY,
                  package_context("req-1", "cam-1", 1))
    assert not (tmp_path / "o").exists()
    open_file(second.package_path, tmp_path / "o", CITY, package_context("req-1", "cam-1", 2))


def test_each_part_is_sealed_once_into_its_own_spool_file(tmp_path: Path, clip: Path) -> None:
    first, second = (seal(clip, tmp_path / "spool", part=n, parts=2) for n in (1, 2))
    assert first.package_path != second.package_path
    assert first.upload_key != second.upload_key
    assert seal(clip, tmp_path / "spool", part=2, parts=2) == second
    # the camera now has three recordings in the window: the sealed part no longer fits
    with pytest.raises(PackagingError, match="now has 3 recordings"):
        seal(clip, tmp_path / "spool", part=2, parts=3)


@pytest.mark.parametrize(("part", "parts"), [(0, 1), (2, 1), (1, 101)])
def test_an_impossible_part_number_is_refused(
    tmp_path: Path, clip: Path, part: int, parts: int
) -> None:
    with pytest.raises(PackagingError, match="1 to 100 clips"):
        seal(clip, tmp_path / "spool", part=part, parts=parts)
    assert not (tmp_path / "spool").exists()


def test_sealing_again_reuses_the_spooled_package(tmp_path: Path, clip: Path) -> None:
    first = seal(clip, tmp_path / "spool")
    before = first.package_path.read_bytes()
    again = seal(clip, tmp_path / "spool")
    assert again == first
    assert again.package_path.read_bytes() == before  # not encrypted a second time
    other = seal(clip, tmp_path / "spool", request_id="req-2")
    assert other.package_path != first.package_path and other.upload_key != first.upload_key


def test_a_missing_clip_is_refused_and_spools_nothing(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="redact the footage again"):
        seal(tmp_path / "gone.mp4", tmp_path / "spool")
    assert not (tmp_path / "spool").exists() or list((tmp_path / "spool").iterdir()) == []


def test_a_damaged_spooled_manifest_is_reported(tmp_path: Path, clip: Path) -> None:
    sealed = seal(clip, tmp_path / "spool")
    manifest_file = sealed.package_path.with_name(
        sealed.package_path.name.replace(".sealed", ".manifest.json"))
    envelope = json.loads(manifest_file.read_text())
    envelope["body"]["ciphertext_size"] += 1
    manifest_file.write_text(json.dumps(envelope))
    with pytest.raises(PackagingError, match="damaged manifest"):
        seal(clip, tmp_path / "spool")
