"""Strict reading of JSON objects: exact field sets, exact types, bounded sizes."""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import datetime
from enum import StrEnum
from typing import Any

from .canonical import b64decode
from .errors import MalformedMessageError
from .timeutil import parse_time

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NONCE_BYTES = 16
MAX_TEXT = 4000


class ObjectReader:
    """Reads the fields of one JSON object, rejecting unknown, missing and mistyped ones."""

    def __init__(
        self,
        data: object,
        where: str,
        required: Set[str],
        optional: Set[str] = frozenset(),
    ) -> None:
        if not isinstance(data, dict):
            raise MalformedMessageError(f"{where}: expected a JSON object")
        unknown = set(data) - required - optional
        if unknown:
            raise MalformedMessageError(f"{where}: unknown fields {sorted(unknown)}")
        missing = required - set(data)
        if missing:
            raise MalformedMessageError(f"{where}: missing fields {sorted(missing)}")
        self.data: dict[str, Any] = data
        self.where = where

    def path(self, name: str) -> str:
        return f"{self.where}.{name}"

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str) -> Any:
        return self.data[name]

    def text(self, name: str, *, max_len: int = MAX_TEXT, allow_empty: bool = False) -> str:
        value = self.data[name]
        if not isinstance(value, str):
            raise MalformedMessageError(f"{self.path(name)}: expected a string")
        if not value and not allow_empty:
            raise MalformedMessageError(f"{self.path(name)}: must not be empty")
        if len(value) > max_len:
            raise MalformedMessageError(f"{self.path(name)}: longer than {max_len} characters")
        return value

    def integer(self, name: str, *, minimum: int = 0, maximum: int = 2**53 - 1) -> int:
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedMessageError(f"{self.path(name)}: expected an integer")
        if not minimum <= value <= maximum:
            raise MalformedMessageError(f"{self.path(name)}: must be in [{minimum}, {maximum}]")
        return value

    def number(self, name: str, *, minimum: float, maximum: float) -> float:
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MalformedMessageError(f"{self.path(name)}: expected a number")
        if not minimum <= value <= maximum:
            raise MalformedMessageError(f"{self.path(name)}: must be in [{minimum}, {maximum}]")
        return float(value)

    def boolean(self, name: str) -> bool:
        value = self.data[name]
        if not isinstance(value, bool):
            raise MalformedMessageError(f"{self.path(name)}: expected true or false")
        return value

    def time(self, name: str) -> datetime:
        return parse_time(self.data[name], self.path(name))

    def sha256(self, name: str) -> str:
        value = self.data[name]
        if not isinstance(value, str) or not _SHA256_HEX.match(value):
            raise MalformedMessageError(f"{self.path(name)}: expected 64 lower-case hex characters")
        return value

    def uuid(self, name: str) -> str:
        value = self.data[name]
        if not isinstance(value, str) or not _UUID.match(value):
            raise MalformedMessageError(f"{self.path(name)}: expected a lower-case UUID")
        return value

    def nonce(self, name: str) -> str:
        value = self.data[name]
        if len(b64decode(value, self.path(name))) != NONCE_BYTES:
            raise MalformedMessageError(f"{self.path(name)}: expected {NONCE_BYTES} random bytes")
        return str(value)

    def choice[E: StrEnum](self, name: str, enum: type[E]) -> E:
        value = self.data[name]
        try:
            return enum(value)
        except ValueError as err:
            allowed = ", ".join(member.value for member in enum)
            raise MalformedMessageError(f"{self.path(name)}: expected one of {allowed}") from err

    def texts(self, name: str, *, max_items: int = 100, max_len: int = 200) -> tuple[str, ...]:
        value = self.data[name]
        if not isinstance(value, list) or not value or len(value) > max_items:
            raise MalformedMessageError(
                f"{self.path(name)}: expected a list of 1 to {max_items} strings"
            )
        items = tuple(value)
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item or len(item) > max_len:
                raise MalformedMessageError(f"{self.path(name)}[{index}]: expected a short string")
        if len(set(items)) != len(items):
            raise MalformedMessageError(f"{self.path(name)}: duplicate entries")
        return items

    def obj(self, name: str) -> dict[str, Any]:
        value = self.data[name]
        if not isinstance(value, dict):
            raise MalformedMessageError(f"{self.path(name)}: expected a JSON object")
        return value
