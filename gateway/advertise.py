"""Zeroconf advertisement of the local API (`_safesmart._tcp`); only beyond loopback."""

from __future__ import annotations

import logging
import socket
from typing import Final

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .config import API_PREFIX

SERVICE_TYPE: Final = "_safesmart._tcp.local."
_LOGGER = logging.getLogger(__name__)


def advertised_address(listen_host: str) -> str:
    """The address to announce: the one we listen on, or for a wildcard the primary interface's."""
    if listen_host not in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        return listen_host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        # connect() on UDP sends nothing; it only makes the kernel pick the outgoing interface.
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


def service_info(
    gateway_id: str, gateway_version: str, host: str, port: int
) -> AsyncServiceInfo:
    """The advertised record; TXT carries gateway_id, version and the API path."""
    hostname = socket.gethostname().split(".")[0] or "safesmart"
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"SafeSmart {gateway_id[:8]}.{SERVICE_TYPE}",
        port=port,
        properties={"gateway_id": gateway_id, "version": gateway_version, "path": API_PREFIX},
        server=f"{hostname}.local.",
        parsed_addresses=[advertised_address(host)],
    )


class Advertiser:
    """Registers the service on start and withdraws it on stop."""

    def __init__(self, gateway_id: str, gateway_version: str, host: str, port: int) -> None:
        self._info = service_info(gateway_id, gateway_version, host, port)
        self._zeroconf: AsyncZeroconf | None = None

    async def start(self) -> None:
        self._zeroconf = AsyncZeroconf(ip_version=IPVersion.All)
        await self._zeroconf.async_register_service(self._info)
        _LOGGER.info("advertising the local API over zeroconf (%s)", SERVICE_TYPE)

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        await self._zeroconf.async_unregister_service(self._info)
        await self._zeroconf.async_close()
        self._zeroconf = None
