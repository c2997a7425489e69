"""A few drawn 'videos' in the upstream layout, so the local system has something to search."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw

SIZE = (320, 180)
FPS = 30
STEP = 15  # one frame every half second


def _bicycle(t: int) -> Image.Image:
    image = Image.new("RGB", SIZE, (170, 210, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 130, SIZE[0], SIZE[1]), fill=(90, 90, 90))
    x = 40 + 35 * t
    for wheel in (x, x + 70):
        draw.ellipse((wheel - 22, 100, wheel + 22, 144), outline=(20, 20, 20), width=4)
    draw.line((x, 122, x + 35, 95, x + 70, 122), fill=(200, 30, 30), width=4)
    draw.ellipse((x + 25, 45, x + 45, 65), fill=(240, 200, 160))  # the rider's head
    draw.line((x + 35, 65, x + 35, 95), fill=(30, 60, 160), width=6)
    return image


def _boat(t: int) -> Image.Image:
    image = Image.new("RGB", SIZE, (200, 225, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 110, SIZE[0], SIZE[1]), fill=(30, 90, 170))
    x = 60 + 30 * t
    bob = 4 * math.sin(t)
    draw.polygon(
        [(x, 110 + bob), (x + 90, 110 + bob), (x + 75, 130 + bob), (x + 15, 130 + bob)], fill=(120, 70, 30)
    )
    draw.polygon([(x + 45, 40 + bob), (x + 45, 105 + bob), (x + 85, 105 + bob)], fill=(250, 250, 250))
    return image


def _street(t: int) -> Image.Image:
    image = Image.new("RGB", SIZE, (60, 60, 70))
    draw = ImageDraw.Draw(image)
    for index in range(5):
        left = 10 + index * 64
        draw.rectangle((left, 30 + (index * 17) % 40, left + 50, 150), fill=(120 + 20 * index, 110, 100))
        for row in range(3):
            lit = (t + index + row) % 3 == 0
            draw.rectangle(
                (left + 10, 50 + row * 30, left + 22, 62 + row * 30),
                fill=(250, 230, 120) if lit else (40, 40, 50),
            )
    draw.rectangle((0, 150, SIZE[0], SIZE[1]), fill=(35, 35, 35))
    return image


VIDEOS = {"sample-bicycle": _bicycle, "sample-boat": _boat, "sample-street": _street}
FRAMES_PER_VIDEO = 6


def webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()


def sample_videos() -> dict[str, list[bytes]]:
    """video_id -> its frames as WebP bytes, frame_000000 first."""
    return {video_id: [webp(draw(t)) for t in range(FRAMES_PER_VIDEO)] for video_id, draw in VIDEOS.items()}
