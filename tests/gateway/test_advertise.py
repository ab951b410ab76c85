"""The zeroconf record the gateway advertises when it listens beyond loopback, and the
listen-address rules that decide whether it listens beyond loopback at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.advertise import SERVICE_TYPE, advertised_address, service_info
from gateway.config import ConfigError, DataLayout, GatewayConfig, ListenAddress


def test_record_carries_id_version_and_path() -> None:
    info = service_info("ab" * 32, "0.1.0", "127.0.0.1", 8765)
    assert info.type == SERVICE_TYPE == "_safesmart._tcp.local."
    assert info.port == 8765
    assert info.decoded_properties == {
        "gateway_id": "ab" * 32, "version": "0.1.0", "path": "/api/v1"}
    assert info.parsed_addresses() == ["127.0.0.1"]
    assert advertised_address("127.0.0.1") == "127.0.0.1"


@pytest.mark.parametrize("bad", ["8765", "host:", "127.0.0.1:99999", ":80"])
def test_bad_listen_addresses(bad: str) -> None:
    with pytest.raises(ConfigError):
        ListenAddress.parse(bad)


@pytest.mark.parametrize(("listen", "url"), [
    ("127.0.0.1:0", "http://127.0.0.1:43210"),
    ("[::1]:0", "http://[::1]:43210"),
    ("0.0.0.0:0", "http://127.0.0.1:43210"),  # a wildcard bind is reached on loopback
    ("[::]:8765", "http://127.0.0.1:43210"),
    ("192.168.1.5:8765", "http://192.168.1.5:43210"),
])
def test_local_clients_reach_the_api_at_the_bound_port(listen: str, url: str) -> None:
    assert ListenAddress.parse(listen).local_url(43210) == url


def test_remote_listening_needs_consent(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    assert ListenAddress.parse("127.0.0.1:0").is_loopback
    assert ListenAddress.parse("[::1]:8765") == ListenAddress("::1", 8765)
    assert not ListenAddress.parse("0.0.0.0:8765").is_loopback
    with pytest.raises(ConfigError, match="--allow-remote"):
        GatewayConfig(data=layout, listen=ListenAddress("192.168.1.5", 8765))
    wildcard = ListenAddress("0.0.0.0", 1)  # noqa: S104 - only a value; nothing binds here
    assert GatewayConfig(data=layout, listen=wildcard, allow_remote=True)
