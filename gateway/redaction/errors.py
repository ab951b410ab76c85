"""The redaction package's exceptions; every message is a sentence a resident can act on."""


class RedactionError(Exception):
    """A clip could not be redacted; nothing was written to the output path."""


class InputError(RedactionError):
    """The input clip is missing, empty, corrupt, truncated or of a kind we refuse."""


class DetectionError(RedactionError):
    """A detector failed or took too long on a frame, so the job stopped (fail closed)."""


def timecode(seconds: float) -> str:
    """Format an offset as HH:MM:SS (or MM:SS under an hour) for messages to residents."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
