"""Still pictures (Nest event images, snapshots): redacted into a PNG that keeps no metadata."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image
from skimage.data import astronaut

from gateway.redaction.detectors.base import DetectionKind
from gateway.redaction.errors import DetectionError, InputError
from gateway.redaction.picture import is_picture
from gateway.redaction.pipeline import RedactionJob, redact, redact_with, remove_leftovers
from gateway.redaction.profiles import DetectionSettings
from gateway.redaction.regions import Box

from .conftest import decode_all, index_frame, read_index, write_clip
from .test_detection import ScriptedDetector

FACE = (185, 70, 275, 185)  # x0, y0, x1, y1 of the astronaut's face (eyes to chin), 512x512


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A JPEG with the kind of metadata a camera writes: maker, model, GPS, a comment."""
    exif = Image.Exif()
    exif[0x010F] = "DoorbellCo"  # Make
    exif[0x0110] = "Doorbell Pro DB-4471"  # Model
    exif[0x8825] = {1: "N", 2: (41.0, 29.0, 57.0)}  # GPS
    path = tmp_path / "event.jpg"
    photo = astronaut()  # type: ignore[no-untyped-call]
    Image.fromarray(photo).save(path, exif=exif, comment=b"12 Example Street")
    return path


def filled_share(pixels: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float((pixels[y0:y1, x0:x1] == 0).all(axis=2).mean())


def test_faces_and_masks_are_filled_and_metadata_dropped(snapshot: Path, tmp_path: Path) -> None:
    out, sheet = tmp_path / "redacted.png", tmp_path / "sheet.png"
    mask = ((0.0, 0.8), (0.3, 0.8), (0.3, 1.0), (0.0, 1.0))
    report = redact(RedactionJob(snapshot, out, masks=(mask,), preview=sheet))
    assert report.frames == 1 and report.faces >= 1 and report.tools["encoder"].startswith("png")
    with Image.open(out) as result:
        assert result.format == "PNG" and result.size == (512, 512)
        assert not result.info.get("exif") and "comment" not in result.info
        assert not result.getexif()
        pixels = np.asarray(result.convert("RGB"))
    assert filled_share(pixels, FACE) > 0.9
    assert filled_share(pixels, (0, 420, 150, 512)) == 1.0  # the mask
    assert filled_share(pixels, (60, 300, 120, 400)) == 0.0  # the suit is not a face
    data = out.read_bytes()
    assert b"DoorbellCo" not in data and b"Example Street" not in data
    assert sheet.read_bytes().startswith(b"\x89PNG")


def test_a_failing_detector_writes_nothing(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.png"
    job = RedactionJob(snapshot, out)
    with pytest.raises(DetectionError, match="failed on the picture"):
        redact_with(job, [ScriptedDetector(fail_from=1)], DetectionSettings())
    assert not out.exists() and list(tmp_path.iterdir()) == [snapshot]


def test_scripted_boxes_are_dilated_and_counted(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.png"
    box = Box(0.5, 0.5, 0.6, 0.6)
    report = redact_with(
        RedactionJob(snapshot, out), [ScriptedDetector([box])], DetectionSettings()
    )
    assert report.faces == 1 and ScriptedDetector.kind is DetectionKind.FACE
    pixels = np.asarray(Image.open(out).convert("RGB"))
    # 30 % dilation: the box grows 15 % of its size on each side.
    assert filled_share(pixels, (249, 249, 315, 315)) == 1.0


@pytest.mark.parametrize(
    "box", [Box(0.4, math.nan, 0.6, 0.6), Box(0.4, 0.4, 0.6, -math.inf), Box(0, 0, 1, 1, math.nan)]
)
def test_a_box_that_is_not_a_number_writes_nothing(
    snapshot: Path, tmp_path: Path, box: Box
) -> None:
    job = RedactionJob(snapshot, tmp_path / "redacted.png", preview=tmp_path / "sheet.png")
    with pytest.raises(DetectionError, match="returned a box on the picture that is not a number"):
        redact_with(job, [ScriptedDetector([box])], DetectionSettings())
    assert list(tmp_path.iterdir()) == [snapshot]


def test_a_slow_detector_counts_as_failed(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.png"
    job = RedactionJob(snapshot, out, preview=tmp_path / "sheet.png")
    with pytest.raises(DetectionError, match="took over 0 s on the picture"):
        redact_with(job, [ScriptedDetector(delay=0.05)], DetectionSettings(timeout_s=0.01))
    assert list(tmp_path.iterdir()) == [snapshot]


def test_a_job_killed_while_writing_the_png_leaves_nothing_once_its_leftovers_are_removed(
    tmp_path: Path,
) -> None:
    # Random pixels take seconds to compress: the job is killed (as by the kernel, or its time
    # limit) while the PNG is being written, so it cannot clean up after itself.
    noise = np.random.default_rng(0).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    source = tmp_path / "noise.bmp"
    Image.fromarray(noise).save(source)
    out = tmp_path / "out" / "redacted.png"
    out.parent.mkdir()
    job = RedactionJob(source, out, profile="masks-only")
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from gateway.redaction.pipeline import RedactionJob, redact\n"
        "redact(RedactionJob(Path(sys.argv[1]), Path(sys.argv[2]), profile='masks-only'))\n"
    )
    job_process = subprocess.Popen([sys.executable, "-c", script, str(source), str(out)])  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while not any(out.parent.iterdir()):
            assert job_process.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        job_process.kill()
        job_process.wait()
    left = [path.name for path in out.parent.iterdir()]
    assert len(left) == 1 and left[0].endswith(".partial"), left
    remove_leftovers(job)
    assert list(out.parent.iterdir()) == []


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels and holds none: Pillow refuses one this
    large as a decompression bomb; it used to reach FFmpeg and be called a corrupt clip."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:2000]), "corrupt or truncated"),
        (lambda p: Image.new("RGB", (5000, 100)).save(p), "larger than 4096 px"),
        (lambda p: p.write_bytes(png_header(30_000, 30_000)), "larger than 4096 px"),
    ],
    ids=["truncated", "too wide", "decompression bomb"],
)
def test_bad_pictures_are_refused(
    snapshot: Path, tmp_path: Path, make: object, message: str
) -> None:
    make(snapshot)  # type: ignore[operator]
    out = tmp_path / "redacted.png"
    with pytest.raises(InputError, match=message):
        redact(RedactionJob(snapshot, out))
    assert not out.exists()


def test_the_command_redacts_a_picture(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.png"
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "gateway", "--data", str(tmp_path / "gw"), "redact",
         str(snapshot), str(out), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"frames": 1' in result.stdout and out.exists()


def test_only_the_accepted_formats_count_as_pictures(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    for name, accepted in [("PNG", True), ("JPEG", True), ("WEBP", True), ("BMP", True),
                           ("GIF", False), ("TIFF", False)]:  # fmt: skip
        path = tmp_path / f"picture.{name.lower()}"
        Image.fromarray(pixels).save(path, name)
        assert is_picture(path) is accepted, name
    # Telling a video from a picture does not load Pillow's forty other readers (0.2 s at the
    # start of every redaction): checked in a fresh process, where nothing loaded them yet.
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    probe = (
        "import sys\nfrom pathlib import Path\n"
        "from gateway.redaction.picture import is_picture\n"
        "print(is_picture(Path(sys.argv[1])), 'PIL.TiffImagePlugin' in sys.modules)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-c", probe, str(video)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", ["door.mjpeg", "door.jpg"])
def test_a_raw_mjpeg_stream_is_redacted_as_a_clip(tmp_path: Path, name: str) -> None:
    # JPEGs one after another, as FFmpeg's "mjpeg" muxer writes them: Pillow opens the first,
    # and FFmpeg, going by the name, reads a .jpg as one picture.
    clip = write_clip(
        tmp_path / name, frames=60, codec="mjpeg", pix_fmt="yuvj420p", container="mjpeg"
    )
    out = tmp_path / "redacted.mp4"
    lower_half = ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))
    report = redact(RedactionJob(clip, out, masks=(lower_half,), profile="masks-only"))
    frames, _ = decode_all(out)
    assert report.frames == 60 and [read_index(frame) for frame in frames] == list(range(60))
    assert all(frame[120:].max() < 20 for frame in frames)


@pytest.mark.parametrize(("name", "kind"), [("door.png", "PNG"), ("door.webp", "WEBP")])
def test_an_animated_picture_is_redacted_as_a_clip(tmp_path: Path, name: str, kind: str) -> None:
    # Pillow opens an animated PNG or WebP as its first frame: the others were dropped.
    pictures = [Image.fromarray(index_frame(index, 320, 240)) for index in range(10)]
    src = tmp_path / name
    pictures[0].save(
        src, kind, save_all=True, append_images=pictures[1:], duration=100, lossless=True
    )
    out = tmp_path / "redacted.mp4"
    report = redact(RedactionJob(src, out, profile="masks-only"))
    frames, times = decode_all(out)
    assert report.frames == 10 and [read_index(frame) for frame in frames] == list(range(10))
    assert times == pytest.approx([i / 10 for i in range(10)], abs=1e-3)


def with_exif_thumbnail(photo: bytes, thumbnail: bytes) -> bytes:
    """`photo` (a JPEG) with an EXIF segment whose IFD1 holds `thumbnail`, as cameras write it:
    a JPEG, with its own start and end markers, inside the photo's APP1 segment."""
    ifd1 = 8 + 6  # after the TIFF header and an empty IFD0
    place = ifd1 + 2 + 2 * 12 + 4
    tiff = struct.pack("<2sHIHI", b"II", 42, 8, 0, ifd1)
    tiff += struct.pack("<HHHIIHHII", 2, 0x0201, 4, 1, place, 0x0202, 4, 1, len(thumbnail))
    segment = b"Exif\0\0" + tiff + struct.pack("<I", 0) + thumbnail
    return photo[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + photo[2:]


def test_photos_with_a_thumbnail_a_second_picture_or_trailing_bytes_stay_pictures(
    snapshot: Path, tmp_path: Path
) -> None:
    photo = snapshot.read_bytes()
    with Image.open(snapshot) as image:
        image.resize((160, 160)).save(tmp_path / "thumbnail.jpg")
        image.save(tmp_path / "stereo.mpo", "MPO", save_all=True, append_images=[image])
    thumbnail = (tmp_path / "thumbnail.jpg").read_bytes()
    with_thumbnail = tmp_path / "with-thumbnail.jpg"
    with_thumbnail.write_bytes(with_exif_thumbnail(photo, thumbnail) + b"\0" * 64)
    with Image.open(with_thumbnail) as image:
        assert image.getexif().get_ifd(ExifTags.IFD.IFD1)[0x0202] == len(thumbnail)
    trailer = tmp_path / "trailer.jpg"  # as some phones append their own data after the photo
    trailer.write_bytes(photo + b"SEFH" + thumbnail)
    for path in (with_thumbnail, tmp_path / "stereo.mpo", trailer):
        assert is_picture(path), path.name
        out = path.with_suffix(".png")
        assert redact(RedactionJob(path, out, profile="masks-only")).frames == 1
        assert out.read_bytes().startswith(b"\x89PNG")
    # Two photos one after the other, and no MPF segment declaring the second: a stream.
    twice = tmp_path / "twice.jpg"
    twice.write_bytes(photo + photo)
    assert not is_picture(twice)
