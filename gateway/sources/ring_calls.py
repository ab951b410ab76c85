"""Calling Ring through ring-doorbell: retries, back-off and plain-language errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from ring_doorbell import AuthenticationError, Requires2FAError, RingError, RingTimeout

from .base import NoFootageError, ReauthRequiredError, SourceUnavailableError

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before telling the resident Ring is unavailable."""

    attempts: int = 5
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0


class RecordingNotFoundError(NoFootageError):
    """Ring answered 404 for a recording on every attempt."""


class RecordingNotReadyError(Exception):
    """Ring answered with an empty link: it is still preparing the recording (retried)."""


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind a ring-doorbell error, if it came from an HTTP answer."""
    cause = exc.__cause__
    return cause.status if isinstance(cause, aiohttp.ClientResponseError) else None


def _retry_after(exc: BaseException) -> float | None:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientResponseError) and cause.headers is not None:
        value = cause.headers.get("Retry-After")
        if value is not None and value.strip().isdigit():
            return float(value)
    return None


async def call_ring[T](
    what: str,
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retry_not_found: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `operation`, retrying transient failures; translate failures into SourceErrors.

    The library refreshes the token itself on a 401 and then still raises, so one 401 is
    retried; a second means the new token is refused as well.
    """
    delay = policy.first_delay_s
    seen_401 = False
    last_problem = "Ring did not answer"
    for attempt in range(1, policy.attempts + 1):
        wait = delay
        try:
            return await operation()
        except (AuthenticationError, Requires2FAError) as exc:
            raise ReauthRequiredError(
                "Ring no longer accepts the saved sign-in; sign in to Ring again "
                "(safesmart-gateway source add ring ...)."
            ) from exc
        except RingTimeout:
            last_problem = "Ring did not answer in time"
        except RingError as exc:
            status = http_status(exc)
            if status == 401:
                if seen_401:
                    raise ReauthRequiredError(
                        "Ring refused the renewed sign-in; sign in to Ring again."
                    ) from exc
                seen_401 = True
                continue
            if status == 404 and not retry_not_found:
                raise RecordingNotFoundError(f"Ring has no {what}.") from exc
            if status == 404:
                last_problem = f"Ring answered 'not found' for the {what}"
            elif status == 429:
                last_problem = "Ring is limiting how often it may be asked"
                wait = max(delay, _retry_after(exc) or 0.0)
            elif status is not None and 400 <= status < 500:
                raise SourceUnavailableError(
                    f"Ring refused the request for the {what} (HTTP {status})."
                ) from exc
            else:
                last_problem = "Ring could not be reached"
        except (aiohttp.ClientError, TimeoutError):
            # Body reads happen outside the library's own error handling.
            last_problem = "the connection to Ring broke off"
        except RecordingNotReadyError:
            last_problem = "Ring was still preparing the file"
        if attempt < policy.attempts:
            _LOGGER.debug("Ring %s: %s; retry %d in %.1f s", what, last_problem, attempt, wait)
            await sleep(min(wait, policy.max_delay_s))
            delay = min(delay * 2, policy.max_delay_s)
    if retry_not_found and last_problem.startswith("Ring answered 'not found'"):
        raise RecordingNotFoundError(f"{last_problem} on every attempt.")
    raise SourceUnavailableError(f"{last_problem} for the {what}; try again in a few minutes.")
