"""The probe set that gates int8 at build time: 48 images and 32 texts, generated deterministically
(no files to keep in step). Images are smooth scenes (gradients, shapes, stripes, noise patches) of
varied sizes and aspects, closer to video frames than pure noise; texts are short queries."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

_SUBJECTS = ["a man", "a woman", "a dog", "a cat", "two children", "a red car", "a bird", "a horse"]
_ACTIONS = ["riding a bicycle", "on a beach", "in the snow", "crossing a busy street"]


def probe_texts() -> list[str]:
    return [f"{subject} {action}" for subject in _SUBJECTS for action in _ACTIONS]


def probe_images(count: int = 48) -> list[Image.Image]:
    images = []
    sizes = [(320, 240), (640, 360), (224, 224), (180, 400), (500, 120), (1024, 768)]
    for index in range(count):
        rng = np.random.default_rng(1000 + index)
        width, height = sizes[index % len(sizes)]
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0.0, 1.0, height)[:, None, None]
        pixels = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 7))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            x1, y1 = x0 + int(rng.integers(10, width)), y0 + int(rng.integers(10, height))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = int(rng.integers(0, 3))
            if shape == 0:
                draw.ellipse((x0, y0, x1, y1), fill=colour)
            elif shape == 1:
                draw.rectangle((x0, y0, x1, y1), fill=colour)
            else:
                draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 12)))
        images.append(image)
    return images
