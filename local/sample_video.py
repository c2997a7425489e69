"""Real short videos, encoded in code with PyAV: drawn shots, variable frame rate, rotation metadata, audio
only, MP4 with its index first. The extraction tests make their inputs here and the local demo uploads
`demo_video()`; nothing binary is committed.

The scenes are moving versions of local/sample_frames.py's stills (same drawing style, at 320x180 and
scaled to the video's size), a function of seconds into the shot so the motion per frame stays small.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import av
import numpy as np
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image, ImageDraw

Size = tuple[int, int]
Codec = Literal["h264", "vp9"]
Draw = Callable[[float], Image.Image]  # the picture t seconds into a shot, at 320x180

SCENE_SIZE: Final = (320, 180)
# encoder, container, options: fast presets (x264 keeps its B-frames, so decode order differs from
# display order as in real files); one thread each, so a test run stays light and the bytes repeatable.
_ENCODERS: Final[dict[Codec, tuple[str, str, dict[str, str]]]] = {
    "h264": ("libx264", "mp4", {"preset": "veryfast", "threads": "1"}),
    "vp9": ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8", "threads": "1"}),
}


@dataclass(frozen=True)
class Shot:
    """One shot: `draw` held for `frames` frames, its clock restarting at 0."""

    draw: Draw
    frames: int


@dataclass(frozen=True)
class Format:
    """How a video is encoded. `rotation` and `hflip` are written as a display matrix: a player turns the
    stored picture `rotation` degrees counter-clockwise (as PyAV's VideoStream.set_display_rotation and
    VideoFrame.rotation count them), then mirrors it left to right if `hflip`. `faststart` puts an MP4's
    index (`moov`) before its data."""

    size: Size = (160, 90)
    codec: Codec = "h264"
    container: str | None = None  # the codec's usual one (mp4, webm) unless set, e.g. "matroska"
    gop: int | None = None  # frames between keyframes; the encoder's default unless set
    b_frames: bool = True  # x264's B-frames (decode order != display order), as in most real files
    rotation: int = 0
    hflip: bool = False
    faststart: bool = False


def encode(
    pictures: Iterable[tuple[Image.Image, int]], *, time_base: Fraction, fmt: Format = Format()
) -> bytes:
    """A video of (picture, pts in `time_base`) in display order. The frame rate the encoder is told is
    1/time_base unless time_base is 1 ms (variable frame rate), where it is a nominal 30."""
    encoder, default_container, options = _ENCODERS[fmt.codec]
    rate = Fraction(30) if time_base == Fraction(1, 1000) else 1 / time_base
    with tempfile.TemporaryDirectory() as folder:
        # movflags=faststart rewrites the file after writing it: it needs a real file, not a BytesIO.
        target: str | io.BytesIO = os.path.join(folder, "video") if fmt.faststart else io.BytesIO()
        container_options = {"movflags": "+faststart"} if fmt.faststart else {}
        with av.open(
            target, "w", format=fmt.container or default_container, options=container_options
        ) as out:
            stream = out.add_stream(encoder, rate=rate, options=options)
            assert isinstance(stream, VideoStream)
            stream.width, stream.height = fmt.size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = time_base
            if fmt.gop is not None:
                stream.codec_context.gop_size = fmt.gop
            if not fmt.b_frames:
                stream.codec_context.max_b_frames = 0
            if fmt.rotation or fmt.hflip:
                stream.set_display_rotation(fmt.rotation, hflip=fmt.hflip)
            for picture, pts in pictures:
                frame = VideoFrame.from_ndarray(np.asarray(picture.convert("RGB")), format="rgb24")
                frame.pts, frame.time_base = pts, time_base
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        return Path(target).read_bytes() if isinstance(target, str) else target.getvalue()


def encode_shots(shots: Sequence[Shot], *, fps: Fraction | int = 30, fmt: Format = Format()) -> bytes:
    """A constant-frame-rate video of the shots, one after another."""
    rate = Fraction(fps)

    def pictures() -> Iterable[tuple[Image.Image, int]]:
        index = 0
        for shot in shots:
            for frame in range(shot.frames):
                yield _fit(shot.draw(float(frame / rate)), fmt.size), index
                index += 1

    return encode(pictures(), time_base=1 / rate, fmt=fmt)


def encode_numbered(count: int, *, fps: Fraction | int = 30, fmt: Format = Format()) -> bytes:
    """A constant-frame-rate video whose frame k shows the number k (`number_picture`)."""
    return encode(
        ((number_picture(k, fmt.size), k) for k in range(count)), time_base=1 / Fraction(fps), fmt=fmt
    )


def encode_vfr(times_ms: Sequence[int], *, fmt: Format = Format()) -> bytes:
    """A variable-frame-rate video, time base 1 ms: frame k shows the number k at times_ms[k].

    Without B-frames: FFmpeg's MP4 muxer takes sample durations from decode times, and x264's decode
    times for B-frames at irregular times make the stream's stated duration fall short of its last frame
    (1.58 s for frames up to 2.1 s)."""
    pictures = ((number_picture(k, fmt.size), at) for k, at in enumerate(times_ms))
    return encode(pictures, time_base=Fraction(1, 1000), fmt=replace(fmt, b_frames=False))


def audio_only(seconds: float = 1.0) -> bytes:
    """An MP4 (M4A) holding a single AAC tone and no video."""
    rate = 48_000
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buffer.getvalue()


# --- numbered frames: the frame number as 12 black or white blocks, robust to lossy coding ---

_NUMBER_COLUMNS, _NUMBER_ROWS = 4, 3


def number_picture(number: int, size: Size) -> Image.Image:
    """A picture of `number` (0-4095): bit b of it is block b of a 4x3 grid, white for 1."""
    if not 0 <= number < 1 << (_NUMBER_COLUMNS * _NUMBER_ROWS):
        raise ValueError(f"{number} does not fit in {_NUMBER_COLUMNS * _NUMBER_ROWS} bits")
    image = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(image)
    for bit, box in enumerate(_number_blocks(size)):
        if number >> bit & 1:
            draw.rectangle(box, fill=(255, 255, 255))
    return image


def read_number(image: Image.Image) -> int:
    """The number a (decoded, possibly resized) `number_picture` shows."""
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    number = 0
    for bit, (left, top, right, bottom) in enumerate(_number_blocks(image.size)):
        inner = gray[
            top + (bottom - top) // 4 : bottom - (bottom - top) // 4,
            left + (right - left) // 4 : right - (right - left) // 4,
        ]
        number |= int(inner.mean() > 128) << bit
    return number


def _number_blocks(size: Size) -> list[tuple[int, int, int, int]]:
    width, height = size
    return [
        (
            column * width // _NUMBER_COLUMNS,
            row * height // _NUMBER_ROWS,
            (column + 1) * width // _NUMBER_COLUMNS - 1,
            (row + 1) * height // _NUMBER_ROWS - 1,
        )
        for row in range(_NUMBER_ROWS)
        for column in range(_NUMBER_COLUMNS)
    ]


# --- the scenes, at 320x180; `t` is seconds into the shot ---


def bicycle(t: float) -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (170, 210, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 130, 320, 180), fill=(90, 90, 90))
    x = 20 + 40 * t
    for wheel in (x, x + 70):
        draw.ellipse((wheel - 22, 100, wheel + 22, 144), outline=(20, 20, 20), width=4)
    draw.line((x, 122, x + 35, 95, x + 70, 122), fill=(200, 30, 30), width=4)
    draw.ellipse((x + 25, 45, x + 45, 65), fill=(240, 200, 160))  # the rider's head
    draw.line((x + 35, 65, x + 35, 95), fill=(30, 60, 160), width=6)
    return image


def boat(t: float) -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (200, 225, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 110, 320, 180), fill=(30, 90, 170))
    x = 40 + 25 * t
    bob = 4 * math.sin(2 * t)
    draw.polygon(
        [(x, 110 + bob), (x + 90, 110 + bob), (x + 75, 130 + bob), (x + 15, 130 + bob)], fill=(120, 70, 30)
    )
    draw.polygon([(x + 45, 40 + bob), (x + 45, 105 + bob), (x + 85, 105 + bob)], fill=(250, 250, 250))
    return image


def street(t: float) -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (60, 60, 70))
    draw = ImageDraw.Draw(image)
    for index in range(5):
        left = 10 + index * 64
        draw.rectangle((left, 30 + (index * 17) % 40, left + 50, 150), fill=(120 + 20 * index, 110, 100))
        for row in range(3):
            lit = (int(2 * t) + index + row) % 3 == 0  # windows light up in turn, twice a second
            draw.rectangle(
                (left + 10, 50 + row * 30, left + 22, 62 + row * 30),
                fill=(250, 230, 120) if lit else (40, 40, 50),
            )
    draw.rectangle((0, 150, 320, 180), fill=(35, 35, 35))
    car = -60 + 70 * t
    draw.rectangle((car, 155, car + 50, 172), fill=(180, 20, 20))
    return image


def park(t: float) -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (150, 200, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 20 + 3 * t, 290, 60 + 3 * t), fill=(255, 220, 60))  # the sun, setting slowly
    draw.rectangle((0, 125, 320, 180), fill=(70, 150, 60))
    sway = 3 * math.sin(3 * t)
    for left in (40, 150):
        draw.rectangle((left + 22, 80, left + 38, 130), fill=(110, 70, 30))
        draw.ellipse((left + sway, 20, left + 60 + sway, 90), fill=(30, 110, 40))
    dog = 200 - 30 * t
    draw.ellipse((dog, 135, dog + 30, 155), fill=(160, 110, 60))
    return image


def night(t: float) -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (10, 15, 45))
    draw = ImageDraw.Draw(image)
    for star in range(25):
        x, y = (star * 73) % 320, (star * 41) % 110
        bright = 150 + int(100 * (0.5 + 0.5 * math.sin(3 * t + star)))
        draw.rectangle((x, y, x + 2, y + 2), fill=(bright, bright, bright))
    draw.ellipse((60 + 6 * t, 30, 110 + 6 * t, 80), fill=(240, 240, 210))  # the moon
    draw.rectangle((0, 140, 320, 180), fill=(20, 30, 20))
    return image


SCENES: Final[dict[str, Draw]] = {
    "bicycle": bicycle,
    "boat": boat,
    "street": street,
    "park": park,
    "night": night,
}
DEMO_FPS: Final = 30
DEMO_SHOT_SECONDS: Final = 4


def demo_video() -> bytes:
    """About 20 s of 320x180 H.264 MP4 at 30 fps: bicycle, boat, street, park, night, 4 s each."""
    shots = [Shot(draw, DEMO_SHOT_SECONDS * DEMO_FPS) for draw in SCENES.values()]
    return encode_shots(shots, fps=DEMO_FPS, fmt=Format(size=SCENE_SIZE))


def _fit(image: Image.Image, size: Size) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)
