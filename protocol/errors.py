"""Errors raised while parsing, verifying or opening protocol messages."""


class ProtocolError(Exception):
    """A message or package does not conform to the SafeSmart protocol."""


class MalformedMessageError(ProtocolError):
    """A message is not valid JSON, misses a field, has an unknown field or a wrong type."""


class SignatureError(ProtocolError):
    """A signature is missing, does not verify, or was made by a key we do not trust."""


class SealedPackageError(ProtocolError):
    """A sealed package is truncated, tampered with, or not for this key."""
