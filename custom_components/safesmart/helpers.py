"""Turning client errors into translated Home Assistant errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, Concatenate

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .client import (
    SafeSmartAuthenticationError,
    SafeSmartConflictError,
    SafeSmartError,
    SafeSmartInvalidInputError,
    SafeSmartNotFoundError,
)
from .const import DOMAIN


def translate_client_error(err: SafeSmartError) -> HomeAssistantError:
    """Resident mistakes become ServiceValidationError, gateway trouble HomeAssistantError."""
    placeholders = {"error": str(err)}
    if isinstance(err, SafeSmartNotFoundError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_request",
            translation_placeholders=placeholders,
        )
    if isinstance(err, SafeSmartConflictError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_pending",
            translation_placeholders=placeholders,
        )
    if isinstance(err, SafeSmartInvalidInputError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_selection",
            translation_placeholders=placeholders,
        )
    key = "invalid_auth" if isinstance(err, SafeSmartAuthenticationError) else "communication_error"
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def safesmart_exception_handler[T, **P](
    func: Callable[Concatenate[T, P], Coroutine[Any, Any, None]],
) -> Callable[Concatenate[T, P], Coroutine[Any, Any, None]]:
    """Decorate an entity action so client errors surface as translated errors."""

    @wraps(func)
    async def handler(self: T, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await func(self, *args, **kwargs)
        except SafeSmartError as err:
            raise translate_client_error(err) from err

    return handler
