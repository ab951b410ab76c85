"""Writing the redacted clip: H.264 yuv420p MP4, faststart, no audio, metadata or encoder tags."""

import glob
import os
import re
import secrets
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.container
import av.video
from av.bitstream import BitStreamFilterContext

PRESET = "veryfast"
CRF = "23"
# SEI NAL units (type 6) carry libx264's "x264 - core ... options" banner; drop them all.
STRIP_SEI = "filter_units=remove_types=6"
# faststart puts the index first (browsers play while loading); bitexact keeps the muxer from
# writing its "Lavf..." encoder tag.
MUXER_OPTIONS = {"movflags": "+faststart", "fflags": "+bitexact"}
_X264_BANNER = re.compile(rb"x264 - core (\d+)(?: r(\d+))?")


def temp_path_for(output: Path) -> Path:
    """A hidden sibling of the output, so the final rename stays on one file system; absolute,
    so that FFmpeg never reads a name with a colon in it ("12:30.mp4") as a protocol."""
    return output.absolute().with_name(f".{output.name}.{secrets.token_hex(4)}.partial")


def remove_partials(output: Path) -> None:
    """Delete the temporary files made for `output` (`temp_path_for`), and those made for them
    in turn (a segment's encoder writes next to the segment's own temporary name)."""
    for path in output.parent.glob(f"*.{glob.escape(output.name)}.*.partial"):
        path.unlink(missing_ok=True)


class ClipWriter:
    """Encodes yuv420p frames to a temporary file; `commit` renames it into place."""

    def __init__(
        self,
        output: Path,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        pixel_aspect: Fraction = Fraction(1),
        colour: tuple[int, int, int] = (2, 2, 2),
    ) -> None:
        self.output = output
        self.temp = temp_path_for(output)
        self.width, self.height = width, height
        self.encoder_version = "libx264"
        self.frames = 0
        self._container: av.container.OutputContainer = av.open(
            str(self.temp),
            mode="w",
            format="mp4",
            options=MUXER_OPTIONS,
        )
        try:
            stream = self._container.add_stream(
                "libx264", rate=rate, options={"preset": PRESET, "crf": CRF}
            )
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = time_base
            # Shape, not metadata: a recorder's non-square pixels (a D1 DVR's 704 x 576 shown
            # at 4:3) would play squeezed without it.
            stream.codec_context.sample_aspect_ratio = pixel_aspect
            # Likewise the colour matrix, primaries and transfer, carried over as they were.
            codec = stream.codec_context
            codec.colorspace, codec.color_primaries, codec.color_trc = colour
            self._stream: av.video.VideoStream = stream
            # Pin only the codec: given the stream, the filter would copy (and write back) codec
            # parameters captured before the encoder opened.
            self._strip = BitStreamFilterContext(STRIP_SEI, "h264")
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> "ClipWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None or self.temp.exists():
            self.abort()

    def write(self, frame: av.VideoFrame, pts: int) -> None:
        """Encode one redacted yuv420p frame at `pts` (output time base, starting at 0)."""
        frame.pts = pts
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            if self.encoder_version == "libx264":
                self._note_encoder(bytes(packet))
            self._mux_clean(self._strip.filter(packet))

    def _mux_clean(self, packets: list[Any]) -> None:
        for clean in packets:
            clean.stream = self._stream
            self._container.mux(clean)

    def _note_encoder(self, data: bytes) -> None:
        # Record the exact encoder build for the report before the banner is stripped.
        match = _X264_BANNER.search(data)
        if match:
            core, revision = match.group(1).decode(), match.group(2)
            self.encoder_version = f"libx264 core {core}" + (
                f" r{revision.decode()}" if revision else ""
            )

    def commit(self) -> Path:
        """Flush the encoder, close the file and rename it to the output path atomically."""
        self._mux(self._stream.encode(None))
        self._mux_clean(self._strip.filter(None))
        self._container.close()
        os.replace(self.temp, self.output)
        return self.output

    def abort(self) -> None:
        """Close and delete the temporary file; the output path is never touched."""
        try:
            self._container.close()
        except Exception:  # noqa: S110 - closing a half-written file may fail; it is deleted next
            pass
        self.temp.unlink(missing_ok=True)
