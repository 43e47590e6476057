"""Draws src/opendsp/web/static/favicon.ico: the same mark as favicon.svg (a white D on the petrol square).

Run once after changing the mark: `python scripts/favicon.py` (needs Pillow, which the test dependencies have).
"""

from pathlib import Path

from PIL import Image, ImageDraw

PETROL, WHITE = (0x00, 0x62, 0x6F, 255), (255, 255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "src" / "opendsp" / "web" / "static" / "favicon.ico"


def mark(scale: int) -> Image.Image:
    """favicon.svg's 32-unit drawing at `scale` pixels per unit (drawn large, then reduced: smooth edges)."""
    image = Image.new("RGBA", (32 * scale, 32 * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = scale
    draw.rounded_rectangle((0, 0, 32 * s - 1, 32 * s - 1), radius=6 * s, fill=PETROL)
    # The D: a bar and a half disc (radius 10 around (15, 16)), less the inner bar and half disc (radius 5).
    draw.rectangle((8 * s, 6 * s, 15 * s, 26 * s), fill=WHITE)
    draw.pieslice((5 * s, 6 * s, 25 * s, 26 * s), start=-90, end=90, fill=WHITE)
    draw.rectangle((13 * s, 11 * s, 15 * s, 21 * s), fill=PETROL)
    draw.pieslice((10 * s, 11 * s, 20 * s, 21 * s), start=-90, end=90, fill=PETROL)
    return image


if __name__ == "__main__":
    mark(8).resize((64, 64), Image.LANCZOS).save(OUT, format="ICO", sizes=[(16, 16), (32, 32), (48, 48), (64, 64)])
    print(f"wrote {OUT}")
