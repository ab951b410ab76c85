"""Generates the demo's doorbell footage: H.264 with audio and identifying metadata.

The clip shows a face (the astronaut photograph that ships with scikit-image) walking
across a street scene and a plate-like sign, so that redaction has something to do, and
carries what a real camera export leaks: an AAC audio track, a title, a GPS location, a
creation time and encoder tags.
"""

from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

WIDTH, HEIGHT, FPS = 640, 360, 30
AUDIO_RATE = 48_000


def _face() -> NDArray[np.uint8]:
    from skimage import data

    # The astronaut's head and shoulders; crop box measured on the bundled 512x512 image.
    crop = data.astronaut()[20:230, 140:320]  # type: ignore[no-untyped-call]
    return np.asarray(Image.fromarray(crop).resize((72, 84)), dtype=np.uint8)


def _background() -> NDArray[np.uint8]:
    image = Image.new("RGB", (WIDTH, HEIGHT), (96, 110, 96))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 250, WIDTH, HEIGHT), fill=(70, 70, 74))  # the street
    draw.rectangle((40, 40, 200, 200), fill=(150, 120, 100))  # a neighbour's house
    draw.rectangle((80, 90, 150, 150), fill=(210, 220, 240))  # its window
    draw.rectangle((430, 270, 560, 300), fill=(245, 245, 245))  # a licence plate
    draw.text((445, 278), "ABC 1234", fill=(10, 10, 10))
    return np.asarray(image, dtype=np.uint8)


def write_clip(path: Path, start: datetime, seconds: int = 20) -> Path:
    """Write a `seconds`-long clip whose first frame was captured at `start`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    face, background = _face(), _background()
    fh, fw = face.shape[:2]
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata.update(
            {
                "title": "Front door - 12 Example Street",
                "location": "+41.4993-081.6944/",
                "creation_time": start.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                "comment": "Doorbell Pro serial DB-4471-2209",
            }
        )
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "veryfast", "g": "30"}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        for index in range(seconds * FPS):
            frame = background.copy()
            x = int(40 + (WIDTH - fw - 80) * index / (seconds * FPS))
            y = int(150 + 10 * math.sin(index / 6))
            frame[y : y + fh, x : x + fw] = face
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            video_frame.time_base = Fraction(1, FPS)
            container.mux(video.encode(video_frame))
        container.mux(video.encode())
        samples_per_frame = 1024
        total = seconds * AUDIO_RATE
        for offset in range(0, total, samples_per_frame):
            t = (np.arange(offset, offset + samples_per_frame) / AUDIO_RATE).astype(np.float32)
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
            audio_frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            audio_frame.sample_rate = AUDIO_RATE
            audio_frame.pts = offset
            container.mux(audio.encode(audio_frame))
        container.mux(audio.encode())
    return path


if __name__ == "__main__":  # python -m demo.footage PATH START SECONDS (for Home Assistant's tests)
    import sys

    write_clip(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]))
