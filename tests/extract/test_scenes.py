"""Shot cuts found while sampling: exactly the known cuts of drawn shots, none inside a moving shot."""

from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np
import pytest

from clipsearch.extract.media import SampledFrame, open_video
from clipsearch.extract.scenes import DEFAULT_CUT_THRESHOLD, cut_score
from local.sample_video import (
    DEMO_SHOT_SECONDS,
    SCENES,
    Format,
    Shot,
    bicycle,
    boat,
    demo_video,
    encode_shots,
    night,
    park,
    street,
)

pytestmark = pytest.mark.unit


def sample(
    data: bytes, extract_fps: float, cut_threshold: float = DEFAULT_CUT_THRESHOLD
) -> list[SampledFrame]:
    with open_video(io.BytesIO(data)) as video:
        sampling = video.sampling(extract_fps=extract_fps, max_frames=10_000)
        return list(video.frames(sampling, cut_threshold=cut_threshold))


def test_cuts_land_on_the_first_sampled_frame_of_each_new_shot():
    lengths = [43, 52, 31, 30]  # cuts at source frames 43, 95, 126
    data = encode_shots(
        [Shot(draw, n) for draw, n in zip([bicycle, street, park, night], lengths, strict=True)]
    )
    frames = sample(data, extract_fps=6)  # step 5
    cut_at = [43, 95, 126]
    # source frame k, shown from k/30 s, is first sampled at index ceil(k / 5)
    assert [f.index for f in frames if f.cut] == [math.ceil(k / 5) for k in cut_at] == [9, 19, 26]
    assert [f.cut.time for f in frames if f.cut] == [Fraction(k, 30) for k in cut_at]
    assert all(f.cut.score >= DEFAULT_CUT_THRESHOLD for f in frames if f.cut)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_a_moving_shot_has_no_cut_between_any_two_frames(name):
    frames = sample(encode_shots([Shot(SCENES[name], 60)]), extract_fps=30)  # step 1: every pair
    assert len(frames) == 60
    assert [f.index for f in frames if f.cut] == []


def test_the_threshold_is_a_parameter():
    data = encode_shots([Shot(boat, 20), Shot(street, 20)])
    assert [f.index for f in sample(data, 30, cut_threshold=math.inf) if f.cut] == []
    assert [f.index for f in sample(data, 30, cut_threshold=0) if f.cut] == list(range(1, 40))


def test_vp9_shots_have_the_same_cuts():
    data = encode_shots([Shot(night, 25), Shot(bicycle, 35)], fmt=Format(codec="vp9"))
    assert [f.index for f in sample(data, 10) if f.cut] == [math.ceil(25 / 3)]


def test_the_demo_video_has_a_cut_between_each_of_its_scenes():
    frames = sample(demo_video(), extract_fps=1)
    assert len(frames) == DEMO_SHOT_SECONDS * len(SCENES) == 20
    assert [f.index for f in frames if f.cut] == [4, 8, 12, 16]


def test_the_score_is_symmetric_and_zero_for_equal_thumbnails():
    rng = np.random.default_rng(7)
    a, b = (rng.integers(0, 256, (36, 64, 3)).astype(np.int16) for _ in range(2))
    assert cut_score(a, a) == 0
    assert cut_score(a, b) == cut_score(b, a) > 0
    assert cut_score(np.zeros_like(a), np.full_like(a, 255)) == 255
