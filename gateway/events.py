"""In-process event bus feeding the SSE stream; a slow subscriber is dropped, never waited for."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_LOGGER = logging.getLogger(__name__)


class EventKind(StrEnum):
    REQUEST = "request"
    HEALTH = "health"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    data: dict[str, Any]

    def to_sse(self) -> bytes:
        """The event in text/event-stream framing."""
        payload = json.dumps(self.data, separators=(",", ":"))
        return f"event: {self.kind.value}\ndata: {payload}\n\n".encode()


class Subscription:
    """One subscriber's bounded queue; `closed` is set when it fell too far behind."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=capacity)
        self.closed = asyncio.Event()

    async def next(self, timeout_s: float) -> Event | None:
        """The next event, or None after `timeout_s` without one (time for a keepalive)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None


class EventBus:
    """Fan-out to any number of subscribers without ever blocking the publisher."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._subscribers: set[Subscription] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: EventKind, data: dict[str, Any]) -> None:
        event = Event(kind, data)
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A client that cannot keep up is disconnected; it reconnects and refetches.
                _LOGGER.warning("dropping an event-stream client that fell behind")
                sub.closed.set()
                self._subscribers.discard(sub)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(self._capacity)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
