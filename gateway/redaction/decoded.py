"""A decoded frame of the window, and its pictures turned upright and in the levels players
assume."""

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import ColorRange

from gateway.redaction.obscure import Planes, planes

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame in the window with its offset from the clip's first frame; its pictures
    are upright and `width` x `height` as the clip is shown."""

    frame: av.VideoFrame
    pts: int  # in the input time base, strictly increasing
    offset_s: Fraction
    turns: int = 0  # as ClipInfo.turns
    mirrored: bool = False  # as ClipInfo.mirrored

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

    def output_frame(self, width: int, height: int) -> av.VideoFrame:
        """A new yuv420p frame of the picture for the encoder, as `yuv420p` gives it: nothing of
        the decoded frame but its pixels comes with it (no side data, no picture type), and
        filling it cannot touch a picture the decoder still refers to."""
        frame = self.frame
        if (
            frame.format.name != "yuv420p"
            or (frame.width, frame.height) != (width, height)
            or self.turns
            or self.mirrored
            or frame.color_range == ColorRange.JPEG
        ):
            return av.VideoFrame.from_ndarray(self.yuv420p(width, height), format="yuv420p")
        # The common case: one copy, plane by plane, where going through an array takes three
        # (out of the decoder's planes, into one array, into a new frame).
        output = av.VideoFrame(width, height, "yuv420p")
        for target, source in zip(plane_views(output), plane_views(frame), strict=True):
            np.copyto(target, source)
        return output

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
        if not self.turns and not self.mirrored:
            return array
        turned = [self._upright(plane).ravel() for plane in planes(array, *size)]
        return np.concatenate(turned).reshape(height * 3 // 2, width)

    def _stored(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.turns % 2 else (width, height)

    def _upright(self, image: Pixels) -> Pixels:
        if not self.turns and not self.mirrored:
            return image
        return np.ascontiguousarray(
            np.rot90(image[:, ::-1] if self.mirrored else image, self.turns)
        )


def plane_views(frame: av.VideoFrame) -> Planes:
    """Writable views of a yuv420p frame's Y, U and V planes, without their row padding."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        views.append(rows[:, : plane.width])
    return views[0], views[1], views[2]
