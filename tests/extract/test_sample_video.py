"""The test-video factory makes what it says: numbered frames, MP4 index placement, audio only."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image

from local.sample_video import (
    Format,
    audio_only,
    encode_numbered,
    number_picture,
    read_number,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("number", [0, 1, 5, 1000, 4095])
def test_a_number_picture_reads_back_even_scaled(number):
    picture = number_picture(number, (160, 90))
    assert read_number(picture) == number
    assert read_number(picture.resize((96, 54), Image.Resampling.BILINEAR)) == number


def test_a_number_must_fit():
    with pytest.raises(ValueError, match="does not fit"):
        number_picture(4096, (160, 90))


def test_numbered_frames_survive_lossy_coding():
    with av.open(io.BytesIO(encode_numbered(40, fmt=Format(codec="vp9"))), "r") as container:
        assert [read_number(frame.to_image()) for frame in container.decode(video=0)] == list(range(40))


def test_faststart_puts_the_index_before_the_data():
    plain, faststart = encode_numbered(10), encode_numbered(10, fmt=Format(faststart=True))
    assert plain.index(b"mdat") < plain.index(b"moov")
    assert faststart.index(b"moov") < faststart.index(b"mdat")


def test_audio_only_has_one_audio_stream():
    with av.open(io.BytesIO(audio_only(0.5)), "r") as container:
        assert [stream.type for stream in container.streams] == ["audio"]
