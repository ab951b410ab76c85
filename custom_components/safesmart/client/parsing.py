"""Strict readers for JSON fields: each wrong type becomes a SafeSmartResponseError."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from .exceptions import SafeSmartResponseError


def mapping(data: object, field: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SafeSmartResponseError(f"Gateway sent an invalid {field}: expected an object")
    return data


def text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected text")
    return value


def opt_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected text")
    return value


def flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected true or false")
    return value


def number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected a number")
    return float(value)


def opt_fraction(data: Mapping[str, Any], key: str) -> float | None:
    """An optional share from 0 to 1 (absent or null from older gateways: None)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected 0 to 1")
    return float(value)


def time(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: expected a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise SafeSmartResponseError(f"Gateway sent an invalid {key}: {value!r}") from err
    if parsed.tzinfo is None:
        raise SafeSmartResponseError(f"Gateway sent a timestamp without time zone in {key}")
    return parsed


def opt_time(value: object, key: str) -> datetime | None:
    return None if value is None else time(value, key)


def enum[E: StrEnum](kind: type[E], data: Mapping[str, Any], key: str) -> E:
    value = text(data, key)
    try:
        return kind(value)
    except ValueError as err:
        raise SafeSmartResponseError(f"Gateway sent an unknown {key}: {value!r}") from err
