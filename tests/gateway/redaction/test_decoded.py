"""The frame handed to the encoder: the decoded picture's pixels, in a frame of its own."""

import numpy as np
import pytest
from av.video.frame import PictureType

from gateway.redaction.decoded import plane_views
from gateway.redaction.obscure import FILL_Y, planes
from gateway.redaction.video_input import ClipReader
from tests.gateway.redaction.conftest import MakeClip


@pytest.mark.parametrize(
    "options",
    [
        {},  # yuv420p as decoded: copied plane by plane
        {"width": 322, "height": 242},  # with row padding in the decoder's planes
        {"rotation": 90},  # turned upright
        {"codec": "mjpeg", "pix_fmt": "yuvj420p", "container": "avi"},  # full range rescaled
        {"pix_fmt": "yuv420p10le"},  # converted
    ],
)
def test_the_output_frame_holds_the_picture_and_filling_it_leaves_the_decoded_frame(
    make_clip: MakeClip, options: dict[str, object]
) -> None:
    name = "in.avi" if "container" in options else "in.mp4"
    src = make_clip(name, frames=24, gop=12, bframes=0, **options)
    with ClipReader(src) as reader:
        width, height = reader.info.even_size
        for decoded in reader.frames(None, None):
            expected = decoded.yuv420p(width, height)
            source = [bytes(plane) for plane in decoded.frame.planes]
            frame = decoded.output_frame(width, height)
            luma, u, v = plane_views(frame)
            for got, want in zip((luma, u, v), planes(expected, width, height), strict=True):
                np.testing.assert_array_equal(got, want)
            assert len(frame.side_data) == 0
            assert frame.pict_type == PictureType.NONE  # the encoder picks its own frame types
            luma[:] = FILL_Y
            # The decoder may still predict later frames from this picture: it is untouched.
            assert [bytes(plane) for plane in decoded.frame.planes] == source
