"""WebP encoding of sampled frames: deterministic, scaled to a long side, safe on several threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from clipsearch.extract.webp import encode_webp, fit_within
from local.sample_video import SCENES, street

pytestmark = pytest.mark.unit


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    return image


@pytest.mark.parametrize(
    ("size", "max_side", "fitted"),
    [
        ((1920, 1080), 1280, (1280, 720)),
        ((1080, 1920), 1280, (720, 1280)),
        ((1280, 720), 1280, (1280, 720)),
        ((320, 180), 1280, (320, 180)),  # never enlarged
        ((1920, 1080), 0, (1920, 1080)),  # 0: keep
        ((1000, 3), 100, (100, 1)),  # a side never reaches 0
    ],
)
def test_fit_within_scales_the_long_side_down(size, max_side, fitted):
    assert fit_within(size, max_side) == fitted


def test_the_same_frame_encodes_to_the_same_bytes():
    image = street(1.5)
    assert encode_webp(image) == encode_webp(image.copy())
    assert decoded(encode_webp(image)).size == (320, 180)


def test_a_large_frame_is_scaled_and_max_side_0_keeps_it():
    large = street(0).resize((1920, 1080))
    assert decoded(encode_webp(large)).size == (1280, 720)
    assert decoded(encode_webp(large, max_side=0)).size == (1920, 1080)
    assert decoded(encode_webp(large, max_side=640)).size == (640, 360)


def test_quality_trades_bytes():
    image = SCENES["park"](1.0)
    assert len(encode_webp(image, quality=30)) < len(encode_webp(image)) < len(encode_webp(image, quality=95))


def test_threads_encoding_one_image_with_different_options_each_get_their_own():
    # Pillow keeps save options on the image while it encodes; encode_webp must not share them.
    image = SCENES["bicycle"](2.0)
    jobs = [(quality, max_side) for quality in (30, 80, 95) for max_side in (0, 160)] * 4
    expected = {job: encode_webp(image, quality=job[0], max_side=job[1]) for job in set(jobs)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: encode_webp(image, quality=job[0], max_side=job[1]), jobs))
    assert results == [expected[job] for job in jobs]
    assert not getattr(image, "encoderinfo", {})  # nothing left behind on the caller's image
