"""Generate the redaction benchmark set: synthetic street clips with known face and plate boxes.

Faces come from photographs bundled in scikit-image (astronaut, cameraman, the LFW subset),
cropped at known coordinates, flipped and scaled to 24-200 px wide; plates are white rectangles
with black characters drawn with Pillow. Nothing is downloaded. Ground truth goes to JSON.
"""

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import skimage.data
from PIL import Image, ImageDraw, ImageFont

Rgb = npt.NDArray[np.uint8]
FPS = 30
EMPTY_S = 1.5  # faces and plates enter after this, so the first frames measure false obscuring


LOW_LIGHT_NOISE = 6.0  # sigma, grey levels


@functools.cache
def noise_bank(sigma: float) -> list[npt.NDArray[np.int16]]:
    """Four frames of sensor noise, cycled so generation stays fast; truncated to whole grey
    levels, which leaves an rms of 5.6 for sigma 6 and 1.6 for sigma 2."""
    return [
        np.random.default_rng(seed).normal(0, sigma, (1080, 1920, 3)).astype(np.int16)
        for seed in range(4)
    ]


@dataclass(frozen=True)
class Sprite:
    """A crop of a photograph and the face box inside it (x0, y0, x1, y1)."""

    image: Rgb
    face: tuple[int, int, int, int]


@dataclass(frozen=True)
class ClipSpec:
    """One benchmark clip."""

    name: str
    width: int
    height: int
    seconds: float
    low_light: bool = False  # 45 % brightness, sensor noise of sigma LOW_LIGHT_NOISE
    # Sensor noise (sigma, grey levels) in daylight: a camera's sensor is never noise-free.
    noise: float = 0.0
    # None: encoded at CRF 16 whatever the bit rate (the noisy low-light clip comes to 23 Mbit/s).
    # A number caps the rate as a camera's encoder does, which smears noise into blocks.
    max_kbps: int | None = None
    # "street": faces and plates crossing the whole frame all the time; "porch": a doorbell's
    # view, a still scene where a visitor walks up and stops while a few others pass behind.
    scene: str = "street"


def _rgb(image: npt.NDArray[np.generic]) -> Rgb:
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([array] * 3, -1) if array.ndim == 2 else array[..., :3])


def sprites() -> list[Sprite]:
    """Head crops with their face boxes (coordinates measured once, see docs/redaction.md)."""
    astronaut = _rgb(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    camera = _rgb(skimage.data.camera())  # type: ignore[no-untyped-call]
    base = [
        Sprite(astronaut[20:220, 150:300].copy(), (32, 38, 120, 158)),
        Sprite(camera[90:225, 180:285].copy(), (22, 29, 78, 107)),
    ]
    lfw = skimage.data.lfw_subset()  # type: ignore[no-untyped-call]  # first 100 are faces
    base += [Sprite(_rgb(lfw[i]), (0, 0, 25, 25)) for i in (0, 7, 21, 42)]
    flipped = [
        Sprite(
            s.image[:, ::-1].copy(),
            (s.image.shape[1] - s.face[2], s.face[1], s.image.shape[1] - s.face[0], s.face[3]),
        )
        for s in base
    ]
    return base + flipped


def plate_image(text: str, width: int) -> Rgb:
    """A white plate with a dark border and black characters, `width` pixels wide."""
    height = max(8, width * 2 // 9)
    plate = Image.new("RGB", (width, height), (245, 245, 240))
    draw = ImageDraw.Draw(plate)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(20, 20, 20), width=max(1, width // 60))
    font = ImageFont.load_default(size=max(6, int(height * 0.7)))
    draw.text((width / 2, height / 2), text, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(plate, dtype=np.uint8)


# Faceless photographs bundled with scikit-image, pasted into the backdrop as posters, walls,
# a lawn and a sign: real textures on which a detector might see faces that are not there.
SCENERY = ("brick", "grass", "gravel", "text", "coffee", "rocket", "chelsea", "coins")


def background(width: int, height: int, rng: np.random.Generator) -> Rgb:
    """A street-like backdrop: sky gradient, house blocks, faceless photographs, a road."""
    frame = np.zeros((height, width, 3), np.float32)
    frame[:] = np.linspace(170, 110, height)[:, None, None] * np.array([0.8, 0.9, 1.0])
    for _ in range(14):
        x, y = int(rng.integers(0, width)), int(rng.integers(height // 5, height // 2))
        w, h = (
            int(rng.integers(width // 12, width // 4)),
            int(rng.integers(height // 6, height // 3)),
        )
        frame[y : y + h, x : x + w] = rng.integers(70, 200, 3)
    for column, name in enumerate(SCENERY):
        photo = _rgb(getattr(skimage.data, name)())
        w = width // 9
        h = min(height // 4, round(photo.shape[0] * w / photo.shape[1]))
        x = min(width - w, column * width // len(SCENERY) + int(rng.integers(0, width // 40)))
        y = int(rng.integers(height // 8, height // 2))
        frame[y : y + h, x : x + w] = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    frame[height * 3 // 4 :] = (95, 95, 100)
    return np.clip(frame, 50, 255).astype(np.uint8)


@dataclass(frozen=True)
class Actor:
    """A face or plate moving in straight lines and bouncing off the frame edges."""

    image: Rgb
    box: tuple[int, int, int, int]  # the ground-truth region inside `image`
    kind: str  # "face" | "plate"
    x: float
    y: float
    vx: float
    vy: float
    occluded: bool = False
    source: str = "photo"  # "photo" (astronaut, cameraman), "lfw" (25 px crops) or "plate"
    stops: int | None = None  # the frame after which it stands still (None: it never stops)

    def position(self, t: int, width: int, height: int) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        t = t if self.stops is None else min(t, self.stops)
        return _bounce(self.x + self.vx * t, width - w), _bounce(self.y + self.vy * t, height - h)


def _bounce(value: float, limit: int) -> int:
    period = 2 * max(1, limit)
    folded = value % period
    return int(folded if folded <= limit else period - folded)


def _face(sprite: Sprite, size: float) -> tuple[Rgb, tuple[int, int, int, int]]:
    """The sprite scaled so its face is `size` pixels wide, and the face box in it."""
    factor = size / (sprite.face[2] - sprite.face[0])
    image = np.asarray(
        cv2.resize(sprite.image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA),
        dtype=np.uint8,
    )
    x0, y0, x1, y1 = (round(v * factor) for v in sprite.face)
    return image, (x0, y0, x1, y1)


def _plate(text: str, width: int, x: float, y: float, vx: float) -> Actor:
    plate = plate_image(text, width)
    h, w = plate.shape[:2]
    return Actor(plate, (0, 0, w, h), "plate", x, y, vx, 0.0, source="plate")


def porch_cast(spec: ClipSpec) -> list[Actor]:
    """A doorbell's view: a visitor walks up to the door and stops, a second one comes more
    slowly from the other side; behind them one person stands across the street and another
    walks past; a parked car, and one driving by."""
    scale = spec.height / 720
    pool = sprites()  # astronaut, cameraman, four LFW crops, then the same flipped
    entry = EMPTY_S * FPS
    people = [
        # sprite, face px, x and y where it appears (shares of the frame), px per frame,
        # direction, frames it walks before standing still (None: it walks on)
        (pool[0], 140, 0.02, 0.30, 6.0, 0.0, 100),
        (pool[7], 64, 0.92, 0.35, 3.0, np.pi, 60),
        (pool[2], 24, 0.70, 0.25, 0.0, 0.0, 0),
        (pool[3], 32, 0.05, 0.22, 3.0, 0.0, None),
    ]
    actors = []
    for sprite, size, x, y, speed, angle, walks in people:
        image, box = _face(sprite, size * scale)
        vx, vy = speed * scale * np.cos(angle), speed * scale * np.sin(angle)
        actors.append(
            Actor(
                image,
                box,
                "face",
                x * spec.width - vx * entry,
                y * spec.height - vy * entry,
                vx,
                vy,
                source="lfw" if sprite.image.shape[0] == 25 else "photo",
                stops=None if walks is None else round(entry) + walks,
            )
        )
    actors.append(_plate("KX 4821", round(100 * scale), 0.75 * spec.width, 0.78 * spec.height, 0))
    actors.append(_plate("ABC 123", round(120 * scale), 0.0, 0.88 * spec.height, 8.0 * scale))
    return actors


def cast(spec: ClipSpec, rng: np.random.Generator) -> list[Actor]:
    """Faces at 24-200 px (scaled for 1080p), several speeds, one partly occluded; two plates."""
    if spec.scene == "porch":
        return porch_cast(spec)
    scale = spec.height / 720
    pool = sprites()
    large = [s for s in pool if s.image.shape[0] > 25]  # photographs, not 25 px LFW crops
    small = [s for s in pool if s.image.shape[0] == 25]
    actors = []
    sizes = [24, 24, 32, 32, 48, 64, 96, 140, 200]
    speeds = [0.0, 2.0, 6.0, 12.0]
    for i, size in enumerate(sizes):
        # Small faces alternate between photographs and the tight 25 px LFW crops.
        sprite = small[i % len(small)] if size <= 32 and i % 2 else large[i % len(large)]
        image, box = _face(sprite, size * scale)
        speed = speeds[i % len(speeds)] * scale
        angle = rng.uniform(0, 2 * np.pi)
        actors.append(
            Actor(
                image,
                box,
                "face",
                rng.uniform(0, spec.width),
                rng.uniform(0, spec.height),
                speed * np.cos(angle),
                speed * np.sin(angle),
                occluded=(i == 6),
                source="lfw" if sprite.image.shape[0] == 25 else "photo",
            )
        )
    for text, width in (("ABC 123", 150), ("KX 4821", 100)):
        x = rng.uniform(0, spec.width)
        actors.append(_plate(text, round(width * scale), x, spec.height * 0.8, 3.0 * scale))
    return actors


def render(
    spec: ClipSpec, actors: list[Actor], backdrop: Rgb, index: int, rng: np.random.Generator
) -> tuple[Rgb, list[dict[str, object]]]:
    """One frame and the ground-truth boxes visible in it.

    Actors may pass in front of each other; an owner map records which actor each pixel shows,
    and a face or plate counts as ground truth only while at least 60 % of its box shows it
    (or the post that partly occludes one face). Hidden faces are not faces-in-frame.
    """
    frame = backdrop.copy()
    truth: list[dict[str, object]] = []
    if index >= EMPTY_S * FPS:
        owner = np.full(frame.shape[:2], -1, np.int16)
        placed = []
        for number, actor in enumerate(actors):
            x, y = actor.position(index, spec.width, spec.height)
            h, w = actor.image.shape[:2]
            frame[y : y + h, x : x + w] = actor.image
            owner[y : y + h, x : x + w] = number
            bx0, by0, bx1, by1 = actor.box
            if actor.occluded:  # a post covering the left third of the face
                frame[y + by0 : y + by1, x + bx0 : x + bx0 + (bx1 - bx0) // 3] = (120, 110, 90)
            placed.append((number, actor, [x + bx0, y + by0, x + bx1, y + by1]))
        for number, actor, box in placed:
            x0, y0, x1, y1 = box
            region = owner[y0:y1, x0:x1]
            shown = float((region == number).mean()) if region.size else 0.0
            if shown >= 0.6:
                truth.append(
                    {
                        "kind": actor.kind,
                        "box": box,
                        "source": actor.source,
                        "size": x1 - x0,
                        "occluded": actor.occluded or shown < 1.0,
                    }
                )
    sigma = LOW_LIGHT_NOISE if spec.low_light else spec.noise
    if sigma:
        bank = noise_bank(sigma)
        noise = bank[index % len(bank)][: spec.height, : spec.width]
        lit = frame.astype(np.int16) * 115 >> 8 if spec.low_light else frame.astype(np.int16)
        frame = np.clip(lit + noise, 0, 255).astype(np.uint8)
    return frame, truth


def x264_options(spec: ClipSpec) -> dict[str, str]:
    """How `generate` encodes the clip: CRF 16, capped as a camera caps it if the spec says so."""
    options = {"crf": "16", "preset": "veryfast"}
    if spec.max_kbps is not None:
        # Under a cap, x264 on more than one thread wrote a different file each time it coded
        # the same frames (four files from four runs of a 2 s clip); on one it writes one file.
        options |= {
            "maxrate": f"{spec.max_kbps}k",
            "bufsize": f"{2 * spec.max_kbps}k",
            "threads": "1",
        }
    return options


def is_current(spec: ClipSpec, folder: Path) -> bool:
    """Whether `folder` holds the clip as `generate` writes it now: same spec, same encoding."""
    clip, truth = folder / f"{spec.name}.mp4", folder / f"{spec.name}.json"
    if not clip.exists() or not truth.exists():
        return False
    meta = json.loads(truth.read_text())
    return bool(meta["spec"] == asdict(spec) and meta.get("x264") == x264_options(spec))


def generate(spec: ClipSpec, folder: Path, seed: int = 7) -> Path:
    """Write `<name>.mp4` (high quality, so decoding adds little error) and `<name>.json`."""
    rng = np.random.default_rng(seed)
    actors = cast(spec, rng)
    backdrop = background(spec.width, spec.height, rng)
    frames = round(spec.seconds * FPS)
    clip = folder / f"{spec.name}.mp4"
    truth: list[list[dict[str, object]]] = []
    options = x264_options(spec)
    with av.open(str(clip), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        for index in range(frames):
            image, boxes = render(spec, actors, backdrop, index, rng)
            truth.append(boxes)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    meta = {"spec": asdict(spec), "x264": options, "fps": FPS, "frames": frames, "truth": truth}
    (folder / f"{spec.name}.json").write_text(json.dumps(meta))
    return clip
