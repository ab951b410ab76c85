"""Fixtures for the footage-source tests: small real MP4s written with PyAV."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from aiohttp import ClientSession, TCPConnector, web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

type MakeClip = Callable[..., Path]


def write_clip(
    path: Path, seconds: float = 2.0, fps: int = 10, creation_time: str | None = None
) -> Path:
    """Write a 160x120 H.264 MP4 of `seconds` length (frames differ, so files differ), or the
    container or raw stream its suffix names (a raw MJPEG stream for `.mjpeg`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mjpeg = path.suffix in {".mjpeg", ".mjpg"}
    with av.open(str(path), mode="w", format="mjpeg" if mjpeg else None) as container:
        if creation_time is not None:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream("mjpeg" if mjpeg else "libx264", rate=fps)
        stream.width, stream.height = 160, 120
        stream.pix_fmt = "yuvj420p" if mjpeg else "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = np.full((120, 160, 3), (index * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def make_clip() -> MakeClip:
    """Write a real small MP4 at the given path."""
    return write_clip


# --- A fake cloud on 127.0.0.1 reached through the real host names over real TLS -------------

CLOUD_HOSTS = (
    "api.ring.com",
    "oauth.ring.com",
    "media.ring.test",
    "smartdevicemanagement.googleapis.com",
    "oauth2.googleapis.com",
    "nest-camera-frontend.googleapis.com",
    "pubsub.googleapis.com",
)


def _tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away CA and a server certificate for the cloud host names."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SafeSmart test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLOUD_HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in CLOUD_HOSTS]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    return server, client


class LoopbackResolver(AbstractResolver):
    """Resolves the cloud host names to the fake server on 127.0.0.1; nothing else resolves."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in CLOUD_HOSTS:
            raise OSError(f"test resolver: {host} is not a faked cloud host")
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=self._port,
                family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


type StartCloud = Callable[[web.Application], Awaitable[tuple[TestServer, ClientSession]]]


@pytest.fixture
async def start_cloud(tmp_path: Path) -> AsyncIterator[StartCloud]:
    """Start an aiohttp app over TLS on 127.0.0.1 and a session that reaches it by host name."""
    server_ctx, client_ctx = _tls_contexts(tmp_path)
    started: list[tuple[TestServer, ClientSession]] = []

    async def start(app: web.Application) -> tuple[TestServer, ClientSession]:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=server_ctx)
        assert server.port is not None
        connector = TCPConnector(resolver=LoopbackResolver(server.port), ssl=client_ctx)
        session = ClientSession(connector=connector)
        started.append((server, session))
        return server, session

    yield start
    for server, session in started:
        await session.close()
        await server.close()
