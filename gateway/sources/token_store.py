"""Account secrets (cloud tokens) kept in owner-only files; never printed or logged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .base import ReauthRequiredError

_OWNER_ONLY = 0o600


def write_private_json(path: Path, value: object) -> None:
    """Write JSON to `path` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.tmp")
    # O_EXCL-free create with 0600 from the start: the secret is never world-readable.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _OWNER_ONLY)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _OWNER_ONLY)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def read_private_json(path: Path) -> Any:
    """Read JSON written by `write_private_json`; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


class TokenStore:
    """One account's token (and related non-secret state) in a 0600 JSON file."""

    def __init__(self, path: Path, account: str) -> None:
        self.path = path
        self.account = account

    def load(self) -> dict[str, Any]:
        """The stored state; raises ReauthRequiredError when nobody has signed in yet."""
        try:
            data = read_private_json(self.path)
        except (OSError, ValueError) as exc:
            raise ReauthRequiredError(
                f"The saved sign-in for {self.account} cannot be read; sign in again."
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("token"), dict):
            raise ReauthRequiredError(f"Nobody has signed in to {self.account} yet; sign in first.")
        return data

    def state(self) -> dict[str, Any]:
        """The stored state, or an empty dict when there is none yet."""
        try:
            data = read_private_json(self.path)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_token(self, token: dict[str, Any]) -> None:
        """Keep a new token, preserving the other stored fields."""
        data = self.state()
        data["token"] = dict(token)
        write_private_json(self.path, data)

    def save_field(self, key: str, value: object) -> None:
        """Store one non-token field next to the token."""
        data = self.state()
        data[key] = value
        write_private_json(self.path, data)
