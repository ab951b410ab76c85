"""RFC 3339 timestamps (always UTC on the wire) and time windows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .errors import MalformedMessageError

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


def utcnow() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a `Z` suffix."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: protocol times must be timezone-aware")
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object, field: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise MalformedMessageError(f"{field}: expected an RFC 3339 time with offset, got {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open interval [start, end) of aware UTC datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("time window must end after it starts")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.end and end > self.start

    def intersection(self, start: datetime, end: datetime) -> TimeWindow | None:
        lo, hi = max(self.start, start), min(self.end, end)
        return TimeWindow(lo, hi) if hi > lo else None

    def contains(self, other: TimeWindow) -> bool:
        return self.start <= other.start and other.end <= self.end

    def to_json(self) -> dict[str, str]:
        return {"start": format_time(self.start), "end": format_time(self.end)}

    @classmethod
    def from_json(cls, data: object, field: str = "window") -> TimeWindow:
        if not isinstance(data, dict) or set(data) != {"start", "end"}:
            raise MalformedMessageError(f"{field}: expected an object with exactly start and end")
        start = parse_time(data["start"], f"{field}.start")
        end = parse_time(data["end"], f"{field}.end")
        if end <= start:
            raise MalformedMessageError(f"{field}: end must be after start")
        return cls(start, end)
