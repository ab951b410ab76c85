"""The city endpoint's data folder layout and settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .errors import CityKeyError
from .keys import CityKeys, write_secret_file

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8800
ADMIN_TOKEN_FILE: Final = "admin-token"  # noqa: S105 (a file name)
KEYS_DIR: Final = "keys"
DATABASE_FILE: Final = "city.db"
UPLOADS_DIR: Final = "uploads"


@dataclass(frozen=True)
class CityConfig:
    """Where the city keeps its state and how it listens."""

    data: Path
    name: str
    admin_token: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def keys_dir(self) -> Path:
        return self.data / KEYS_DIR

    @property
    def db_path(self) -> Path:
        return self.data / DATABASE_FILE

    @property
    def uploads_dir(self) -> Path:
        return self.data / UPLOADS_DIR

    @classmethod
    def load(cls, data: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> CityConfig:
        """Read an initialised data folder (see `initialise`)."""
        token_path = data / ADMIN_TOKEN_FILE
        if not token_path.exists() or not (data / KEYS_DIR).exists():
            raise CityKeyError(
                f"{data} is not an initialised city data folder; run `safesmart-city init` first"
            )
        keys = CityKeys.load(data / KEYS_DIR)
        token = token_path.read_text(encoding="ascii").strip()
        return cls(data=data, name=keys.name, admin_token=token, host=host, port=port)


def initialise(data: Path, name: str) -> tuple[CityConfig, CityKeys]:
    """Create the data folder, the city keys and the admin token (kept if they exist)."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = CityKeys.load_or_create(data / KEYS_DIR, name)
    token_path = data / ADMIN_TOKEN_FILE
    if not token_path.exists():
        write_secret_file(token_path, secrets.token_urlsafe(32).encode("ascii") + b"\n")
    return CityConfig.load(data), keys
