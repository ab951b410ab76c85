"""Capturing footage that exists only while the gateway runs.

Nest keeps no history for the SDM API (docs/sources.md): a window can be answered only from the
event media the gateway captured as each event arrived. `serve` therefore pulls the Pub/Sub
subscription of every Nest source that has one, for as long as it runs. Sources added, changed
or removed with the `source` commands while it runs are picked up within `check_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

import aiohttp

from .feed import Backoff
from .sources.base import SourceError
from .sources.nest import NestSource
from .sources.registry import SourceRegistry

_LOGGER = logging.getLogger(__name__)


class SourceCapture:
    """One capture task per Nest source with a subscription, started, restarted and stopped as
    sources.json changes; a failing one is retried with backoff, logged once until it recovers."""

    def __init__(self, sources: SourceRegistry, *, check_s: float, backoff: Backoff) -> None:
        self._sources = sources
        self._check_s = check_s
        self._backoff = backoff
        self._tasks: dict[str, tuple[dict[str, Any], asyncio.Task[None]]] = {}

    def running(self) -> list[str]:
        """The names of the sources being captured now."""
        return sorted(self._tasks)  # a task ends only when cancelled, and is dropped then

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                stopped = self._reconcile()
                # Ended before their sources' sessions are closed under them.
                await asyncio.gather(*stopped, return_exceptions=True)
                await self._sources.close_retired()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._check_s)
        finally:
            for _, task in self._tasks.values():
                task.cancel()
            await asyncio.gather(
                *(task for _, task in self._tasks.values()), return_exceptions=True
            )
            self._tasks.clear()

    def _reconcile(self) -> list[asyncio.Task[None]]:
        """Start and stop tasks as sources.json says; the tasks stopped."""
        try:
            wanted = self._sources.capturing()
        except SourceError as exc:  # sources.json unreadable: keep what runs, say why
            _LOGGER.warning("Footage sources cannot be read: %s", exc)
            return []
        stopped = []
        for name, (entry, task) in list(self._tasks.items()):
            if wanted.get(name) != entry:
                task.cancel()
                stopped.append(task)
                del self._tasks[name]
                _LOGGER.info("Stopped capturing events of source '%s'", name)
        for name, entry in wanted.items():
            if name not in self._tasks:
                self._tasks[name] = (entry, asyncio.ensure_future(self._capture(name)))
                _LOGGER.info("Capturing events of source '%s'", name)
        return stopped

    async def _capture(self, name: str) -> None:
        """Pull one source's events until cancelled. `NestSource.watch` returns only by raising:
        connecting failed (Google unreachable, the sign-in refused); pull failures it retries."""
        failures = 0
        while True:
            try:
                source = cast(NestSource, self._sources.get(name))
                await source.connect()
                if failures:
                    _LOGGER.info("Events of source '%s' are captured again", name)
                failures = 0
                await source.watch()
            except (SourceError, aiohttp.ClientError, TimeoutError) as exc:
                if failures == 0:
                    _LOGGER.warning("Events of source '%s' cannot be captured: %s", name, exc)
            except Exception:
                if failures == 0:
                    _LOGGER.exception("Capturing events of source '%s' failed", name)
            failures += 1
            await asyncio.sleep(self._backoff.delay(failures))
