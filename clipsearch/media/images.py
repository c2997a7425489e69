"""Decoding untrusted image bytes into RGB, safely: size limits first, then pixels."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from clipsearch.runtime.errors import ItemError

try:  # WebP, JPEG and PNG are built in; make sure WebP really is (the pipeline writes WebP)
    from PIL import WebPImagePlugin  # noqa: F401
except ImportError as error:  # pragma: no cover - a broken Pillow build
    raise RuntimeError("this Pillow build cannot read WebP frames") from error

_WHITE = (255, 255, 255)


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """An RGB image, EXIF orientation applied; ItemError for anything that is not a usable image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we enforce our own limit
            image: Image.Image = Image.open(io.BytesIO(data))
            pixels = image.width * image.height
            if pixels > max_pixels:  # checked from the header, before any pixel is decoded
                raise ItemError(
                    f"image is {image.width}×{image.height} = {pixels:,} pixels; the limit is {max_pixels:,}"
                )
            image = ImageOps.exif_transpose(image)
            image.load()
    except ItemError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as error:
        raise ItemError(f"not a readable image (JPEG, PNG or WebP): {error}") from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Transparent areas become white (as a viewer shows them), not black; CMYK, L, P become RGB."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")
