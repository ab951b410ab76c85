"""The gateway's data folder layout, listen address and run-time settings."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .redaction.profiles import BUNDLED, Models

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
API_PREFIX: Final = "/api/v1"


class GatewayError(Exception):
    """Base of the service's errors; the message is a sentence a resident can act on."""


class ConfigError(GatewayError):
    """A setting or command-line value is not usable."""


def default_data_dir() -> Path:
    """$SAFESMART_DATA, or ~/.local/share/safesmart."""
    env = os.environ.get("SAFESMART_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "safesmart"


@dataclass(frozen=True)
class DataLayout:
    """Where every file of one gateway lives; private keys never leave this folder."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "gateway.db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def device_key(self) -> Path:
        return self.keys_dir / "device.key"

    @property
    def api_token(self) -> Path:
        return self.root / "api-token"

    @property
    def rules(self) -> Path:
        return self.root / "rules.json"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def create(self) -> None:
        """Create the folder tree, private to the owner (0700)."""
        for folder in (self.root, self.keys_dir, self.spool, self.work):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)

    def require(self) -> None:
        """Fail clearly when the folder was never initialised."""
        if not self.device_key.exists():
            raise ConfigError(
                f"no gateway in {self.root}: run `safesmart-gateway init --data {self.root}` first"
            )


@dataclass(frozen=True)
class ListenAddress:
    """Host and port of the local API."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        """Parse `host:port` (IPv6 in brackets)."""
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ConfigError(f"listen address {text!r} must look like 127.0.0.1:8765")
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range")
        host = host.removeprefix("[").removesuffix("]")
        return cls(host, port)

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def local_url(self, port: int) -> str:
        """Where local clients (the CLI) reach the API bound here, on `port` (the one the system
        chose for port 0); a wildcard bind is reached on loopback."""
        wildcard = self.host in ("0.0.0.0", "::", "")  # noqa: S104 - comparing, not binding
        return f"http://{ListenAddress('127.0.0.1' if wildcard else self.host, port)}"

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Timing:
    """Intervals of the service's loops (tests shorten them)."""

    feed_wait_s: int = 25
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    keepalive_s: float = 15.0
    expire_interval_s: float = 30.0
    capture_check_s: float = 30.0  # how soon a Nest source added while serving is captured
    sources_refresh_s: float = 300.0  # how often the cameras' footage spans are asked for


@dataclass(frozen=True)
class TimeLimit:
    """How long the redaction worker may take on one clip before it is stopped, so that a hang
    (a decoder or a model stuck in C code) fails that clip instead of every later one: after
    `stall_s` without progress (no packet decoded, joined or hashed), or `for_clip` in all.
    Meant for hangs, not slow machines: 10 s per second of clip is 0.1x real time, 20-30 times
    slower than the 2-core machine in docs/benchmarks.md (`serve --redaction-time-limit`)."""

    base_s: float = 120.0
    per_clip_second_s: float = 10.0
    stall_s: float = 120.0

    def for_clip(self, duration_s: float) -> float:
        return self.base_s + self.per_clip_second_s * max(duration_s, 0.0)


DEFAULT_TIME_LIMIT = TimeLimit()


@dataclass(frozen=True)
class GatewayConfig:
    """Everything `GatewayService` needs to start."""

    data: DataLayout
    listen: ListenAddress = field(default_factory=ListenAddress)
    allow_remote: bool = False
    advertise: bool = True
    redaction_profile: str = "standard"
    redaction_models: Models = BUNDLED  # the resident's model files (checked at start-up)
    redaction_time_limit: TimeLimit = DEFAULT_TIME_LIMIT
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        if not self.listen.is_loopback and not self.allow_remote:
            raise ConfigError(
                f"refusing to listen on {self.listen}: the local API stays on loopback "
                "unless you pass --allow-remote"
            )
