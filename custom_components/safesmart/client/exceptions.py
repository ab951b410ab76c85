"""Exceptions raised by the SafeSmart local API client."""


class SafeSmartError(Exception):
    """Base error of the SafeSmart client."""


class SafeSmartConnectionError(SafeSmartError):
    """The gateway could not be reached or did not answer in time."""


class SafeSmartAuthenticationError(SafeSmartError):
    """The gateway rejected the API token (HTTP 401)."""


class SafeSmartNotFoundError(SafeSmartError):
    """The gateway does not know the request or has no preview yet (HTTP 404)."""


class SafeSmartConflictError(SafeSmartError):
    """The request is no longer pending (HTTP 409)."""


class SafeSmartInvalidInputError(SafeSmartError):
    """The gateway rejected the cameras or window sent (HTTP 422)."""


class SafeSmartResponseError(SafeSmartError):
    """The gateway answered with something that does not match the local API contract."""
