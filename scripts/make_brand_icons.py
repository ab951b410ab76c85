"""Draw the SafeSmart brand images for Home Assistant (icon 256x256, logo 256 high) with Pillow.

Run: .venv/bin/python scripts/make_brand_icons.py  (writes custom_components/safesmart/brand/)
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "safesmart" / "brand"
NAVY = (22, 47, 84, 255)
TEAL = (0, 150, 136, 255)
WHITE = (255, 255, 255, 255)
SCALE = 4  # draw large, then downsample for smooth edges


def shield(size: int) -> Image.Image:
    """A shield holding a camera lens with a check mark: footage guarded by the resident."""
    s = size * SCALE
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    top, side, bottom = 0.08 * s, 0.12 * s, 0.94 * s
    outline = [
        (s / 2, top), (s - side, top + 0.1 * s), (s - side, 0.5 * s),
        (s / 2, bottom), (side, 0.5 * s), (side, top + 0.1 * s),
    ]
    draw.polygon(outline, fill=NAVY)
    centre, radius = (s / 2, 0.45 * s), 0.2 * s
    draw.ellipse(
        [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius],
        fill=WHITE,
    )
    inner = 0.13 * s
    draw.ellipse(
        [centre[0] - inner, centre[1] - inner, centre[0] + inner, centre[1] + inner], fill=TEAL
    )
    tick = [
        (centre[0] - 0.07 * s, centre[1]), (centre[0] - 0.015 * s, centre[1] + 0.055 * s),
        (centre[0] + 0.075 * s, centre[1] - 0.05 * s),
    ]
    draw.line(tick, fill=WHITE, width=int(0.03 * s), joint="curve")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int) -> Image.Image:
    """The shield followed by the word SafeSmart."""
    font = ImageFont.load_default(size=int(height * 0.3))
    text_left = int(height * 0.95)
    text_width = int(font.getlength("SafeSmart"))
    image = Image.new("RGBA", (text_left + text_width + height // 8, height), (0, 0, 0, 0))
    image.alpha_composite(shield(height), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((text_left, height // 2), "SafeSmart", font=font, fill=NAVY, anchor="lm")
    return image


def main() -> None:
    """Write icon.png and logo.png."""
    BRAND.mkdir(parents=True, exist_ok=True)
    shield(256).save(BRAND / "icon.png", optimize=True)
    logo(256).save(BRAND / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
