"""Receiving Nest event messages from the resident's Pub/Sub subscription (REST pull, outbound)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .base import SourceError

_LOGGER = logging.getLogger(__name__)
PUBSUB_URL = "https://pubsub.googleapis.com/v1"
SUBSCRIPTION = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/subscriptions/[A-Za-z][\w.~%+-]{2,254}$"
)

type TokenGetter = Callable[[], Awaitable[str]]
type MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]


class MalformedEventError(SourceError):
    """A Pub/Sub message is not an SDM event the library can read; it is dropped."""


def check_subscription(name: str) -> str:
    """Validate a full Pub/Sub subscription name."""
    if not SUBSCRIPTION.match(name):
        raise SourceError(
            "The Pub/Sub subscription must look like "
            "projects/<cloud-project>/subscriptions/<name>."
        )
    return name


class EventPuller:
    """Pulls SDM event messages, hands each to `handle`, and acknowledges it."""

    def __init__(
        self,
        subscription: str,
        session: aiohttp.ClientSession,
        token: TokenGetter,
        handle: MessageHandler,
        *,
        pubsub_url: str = PUBSUB_URL,
        max_messages: int = 20,
    ) -> None:
        self._url = f"{pubsub_url}/{check_subscription(subscription)}"
        self._session = session
        self._token = token
        self._handle = handle
        self._max = max_messages

    async def pull_once(self) -> int:
        """One pull: handle and acknowledge what arrived; return how many messages."""
        headers = {"Authorization": f"Bearer {await self._token()}"}
        async with self._session.post(
            f"{self._url}:pull", json={"maxMessages": self._max}, headers=headers
        ) as response:
            if response.status in (401, 403):
                raise SourceError(
                    "Google refused the Pub/Sub subscription; check that the Nest sign-in "
                    "includes Pub/Sub access and the subscription belongs to your project."
                )
            response.raise_for_status()
            body = await response.json()
        received = body.get("receivedMessages", []) if isinstance(body, dict) else []
        ack_ids = []
        for item in received:
            if not isinstance(item, dict) or not isinstance(item.get("ackId"), str):
                continue
            payload = _decode(item)
            try:
                if payload is not None:
                    # Other failures leave the message unacknowledged: Pub/Sub redelivers it.
                    await self._handle(payload)
            except MalformedEventError:
                _LOGGER.warning("Dropping a Pub/Sub message the Nest library cannot read")
            ack_ids.append(item["ackId"])
        if ack_ids:
            async with self._session.post(
                f"{self._url}:acknowledge", json={"ackIds": ack_ids}, headers=headers
            ) as response:
                response.raise_for_status()
        return len(received)

    async def run(self, idle_s: float = 1.0, max_backoff_s: float = 300.0) -> None:
        """Pull forever; back off with jitter on failures and log loss and recovery once."""
        failures = 0
        while True:
            try:
                count = await self.pull_once()
            except (aiohttp.ClientError, TimeoutError, SourceError) as exc:
                if failures == 0:
                    _LOGGER.warning("Nest events cannot be received: %s", exc)
                failures += 1
                await asyncio.sleep(random.uniform(0, min(max_backoff_s, 2.0**failures)))  # noqa: S311
                continue
            if failures:
                _LOGGER.info("Nest events are received again")
            failures = 0
            if count == 0:
                await asyncio.sleep(idle_s)


def _decode(item: dict[str, Any]) -> dict[str, Any] | None:
    """The event JSON inside a received message; None (logged) when it is not one."""
    payload: object = None
    try:
        data = base64.b64decode(item["message"]["data"], validate=True)
        payload = json.loads(data)
    except (KeyError, TypeError, binascii.Error, ValueError):
        pass
    if not isinstance(payload, dict):
        _LOGGER.warning("Dropping a Pub/Sub message that is not an SDM event")
        return None
    return payload
