"""A decoded frame of the window, and its pictures turned upright and in the levels players
assume."""

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import ColorRange

from gateway.redaction.obscure import planes

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame in the window with its offset from the clip's first frame; its pictures
    are upright and `width` x `height` as the clip is shown."""

    frame: av.VideoFrame
    pts: int  # in the input time base, strictly increasing
    offset_s: Fraction
    turns: int = 0  # as ClipInfo.turns

    def rgb(self, width: int, height: int) -> Pixels:
        """The picture as RGB."""
        stored = self.frame.reformat(*self._stored(width, height), format="rgb24")
        return self._upright(np.asarray(stored.to_ndarray(), dtype=np.uint8))

    def full_rgb(self) -> Pixels:
        """The picture as RGB at the size it was decoded (converted once, however many ask:
        detection, looking back to this frame, looking near on it; read-only for all)."""
        return self._full_rgb

    @cached_property
    def _full_rgb(self) -> Pixels:
        return self._upright(np.asarray(self.frame.to_ndarray(format="rgb24"), dtype=np.uint8))

    def luma(self) -> Pixels:
        """The picture's brightness (grey) at the size it was decoded."""
        return self._upright(np.asarray(self.frame.to_ndarray(format="gray"), dtype=np.uint8))

    def yuv420p(self, width: int, height: int) -> Pixels:
        """The picture as yuv420p planes (even sides) in the limited range players assume:
        full-range input (as MJPEG cameras record) is rescaled, or its contrast would be
        stretched."""
        size = self._stored(width, height)
        if self.frame.color_range == ColorRange.JPEG:
            stored = self.frame.reformat(*size, "yuv420p", dst_color_range=ColorRange.MPEG)
        else:
            stored = self.frame.reformat(*size, "yuv420p")
        array = np.asarray(stored.to_ndarray(), dtype=np.uint8)
        if not self.turns:
            return array
        turned = [np.rot90(plane, self.turns).ravel() for plane in planes(array, *size)]
        return np.concatenate(turned).reshape(height * 3 // 2, width)

    def _stored(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.turns % 2 else (width, height)

    def _upright(self, image: Pixels) -> Pixels:
        return np.ascontiguousarray(np.rot90(image, self.turns)) if self.turns else image
