"""Fixtures for the footage-source tests: small real MP4s written with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

type MakeClip = Callable[..., Path]


def write_clip(
    path: Path, seconds: float = 2.0, fps: int = 10, creation_time: str | None = None
) -> Path:
    """Write a 160x120 H.264 MP4 of `seconds` length (frames differ, so files differ)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        if creation_time is not None:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = np.full((120, 160, 3), (index * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def make_clip() -> MakeClip:
    """Write a real small MP4 at the given path."""
    return write_clip
