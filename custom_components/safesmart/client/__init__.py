"""Typed async client of the SafeSmart gateway's local API (no Home Assistant imports)."""

from .client import API_PATH, SafeSmartClient
from .exceptions import (
    SafeSmartAuthenticationError,
    SafeSmartConflictError,
    SafeSmartConnectionError,
    SafeSmartError,
    SafeSmartInvalidInputError,
    SafeSmartNotFoundError,
    SafeSmartResponseError,
)
from .models import (
    Camera,
    CameraStatus,
    City,
    Disclosures,
    Health,
    Incident,
    LegalBasis,
    Officer,
    PreviewStatus,
    Request,
    RequestCamera,
    RequestState,
    StreamEvent,
)

__all__ = [
    "API_PATH",
    "Camera",
    "CameraStatus",
    "City",
    "Disclosures",
    "Health",
    "Incident",
    "LegalBasis",
    "Officer",
    "PreviewStatus",
    "Request",
    "RequestCamera",
    "RequestState",
    "SafeSmartAuthenticationError",
    "SafeSmartClient",
    "SafeSmartConflictError",
    "SafeSmartConnectionError",
    "SafeSmartError",
    "SafeSmartInvalidInputError",
    "SafeSmartNotFoundError",
    "SafeSmartResponseError",
    "StreamEvent",
]
