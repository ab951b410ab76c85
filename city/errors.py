"""The city endpoint's exception hierarchy; each maps to one HTTP problem status."""

from __future__ import annotations


class CityError(Exception):
    """Base class: something the city endpoint refuses, with a sentence a person can act on."""

    status = 500
    title = "City endpoint error"


class CityKeyError(CityError):
    """The city's key files are missing, unreadable or damaged."""

    title = "City keys unavailable"


class BadRequestError(CityError):
    """The body is not valid JSON or not the expected message."""

    status = 400
    title = "Malformed request"


class UnauthorizedError(CityError):
    """The request is not signed by an enrolled gateway or lacks the admin token."""

    status = 401
    title = "Not authenticated"


class ForbiddenError(CityError):
    """Authenticated, but not allowed (a wrong, used or expired enrollment code)."""

    status = 403
    title = "Forbidden"


class NotFoundError(CityError):
    """The named camera, request or upload does not exist (or is not this gateway's)."""

    status = 404
    title = "Not found"


class ConflictError(CityError):
    """The action clashes with the current state (e.g. a withdrawn camera)."""

    status = 409
    title = "Conflict"


class PayloadTooLargeError(CityError):
    """The body exceeds the size limit for this route."""

    status = 413
    title = "Request body too large"


class UnprocessableError(CityError):
    """Well-formed, but outside the caps (window, radius, times)."""

    status = 422
    title = "Request outside the allowed limits"
