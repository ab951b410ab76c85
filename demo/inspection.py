"""What the demo checks in the clip the city decrypted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from .processes import DemoError

# Container fields that identify nothing: the MP4 brand boxes.
HARMLESS_METADATA = frozenset({"major_brand", "minor_version", "compatible_brands"})
# Per-stream fields the MP4 muxer always writes, with their generic values.
HARMLESS_STREAM_METADATA = {
    "language": "und",
    "handler_name": "VideoHandler",
    "vendor_id": "[0][0][0][0]",
}
# Strings the original carried (title, serial number) or an encoder would add.
LEAKS = (b"Example Street", b"DB-4471", b"Lavf", b"x264", b"+41.4993")


@dataclass(frozen=True)
class ClipFacts:
    duration_s: float
    frames: int
    audio_streams: int
    metadata: dict[str, str]


def inspect_clip(path: Path, expected_seconds: float, fps: float = 30.0) -> ClipFacts:
    """Check a redacted clip: trimmed to the window, no audio, no identifying metadata."""
    with av.open(str(path)) as container:
        metadata = {k: v for k, v in container.metadata.items() if k not in HARMLESS_METADATA}
        audio = len(container.streams.audio)
        stream_metadata = {
            f"stream{s.index}.{k}": v
            for s in container.streams
            for k, v in s.metadata.items()
            if HARMLESS_STREAM_METADATA.get(k) != v
        }
        frames = sum(1 for _ in container.decode(video=0))
    facts = ClipFacts(frames / fps, frames, audio, {**metadata, **stream_metadata})
    problems = []
    if audio:
        problems.append(f"{audio} audio stream(s)")
    if abs(frames - round(expected_seconds * fps)) > 1:
        problems.append(f"{frames} frames where the window holds {expected_seconds * fps:.0f}")
    if facts.metadata:
        problems.append(f"metadata left: {facts.metadata}")
    data = path.read_bytes()
    problems += [f"the bytes {leak!r} appear in the file" for leak in LEAKS if leak in data]
    if problems:
        raise DemoError(f"{path.name}: " + "; ".join(problems))
    return facts
