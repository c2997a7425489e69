"""Real image files made in code: WebP, JPEG, PNG in every colour mode the pipeline may produce."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def picture(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A deterministic, non-uniform RGB picture (uniform images would all embed alike)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def frame_bytes(seed: int, fmt: str = "WEBP") -> bytes:
    quality = {"quality": 80} if fmt in ("WEBP", "JPEG") else {}
    return encode(picture(seed), fmt, **quality)
