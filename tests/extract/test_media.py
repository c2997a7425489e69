"""Probing and frame-accurate sampling of real encoded videos (local/sample_video.py makes them)."""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from clipsearch.extract.media import (
    SampledFrame,
    Sampling,
    VideoFacts,
    frame_step,
    open_video,
    plan_pieces,
    plan_sampling,
    probe,
)
from local.sample_video import (
    Format,
    Shot,
    bicycle,
    encode,
    encode_numbered,
    encode_shots,
    encode_vfr,
    night,
    park,
    read_number,
    street,
)

pytestmark = pytest.mark.unit


def sample(data: bytes, *, extract_fps: float | Fraction, max_frames: int = 10_000) -> list[SampledFrame]:
    with open_video(io.BytesIO(data)) as video:
        return list(video.frames(video.sampling(extract_fps=extract_fps, max_frames=max_frames)))


def facts(data: bytes) -> VideoFacts:
    return probe(io.BytesIO(data))


# --- the plan ---


@pytest.mark.parametrize(
    ("video_fps", "extract_fps", "step"),
    [
        (30, 1, 30),
        (Fraction(30000, 1001), 1, 30),
        (Fraction(24000, 1001), 2, 12),
        (25, 2, 12),  # 12.5: Python's round, halves to even, as the upstream extractor and the search
        (60, 0.5, 120),
        (10, 30, 1),  # never 0: every frame
    ],
)
def test_the_step_is_the_upstream_formula(video_fps, extract_fps, step):
    assert frame_step(video_fps, extract_fps) == step


def test_extract_fps_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        frame_step(30, 0)


def test_t_i_is_rounded_to_the_nearest_tick_halves_up():
    sampling = Sampling(fps=Fraction(24000, 1001), step=12, count=10)
    assert sampling.time(1) == Fraction(1001, 2000)  # 500.5 ms
    assert sampling.ticks(1, Fraction(1, 1000)) == 501
    assert sampling.ticks(1, Fraction(1, 24000)) == 12012


# --- constant frame rate ---


def test_30_fps_at_1_fps_samples_every_30th_frame_at_whole_seconds():
    data = encode_numbered(95, fps=30)
    assert facts(data).duration == Fraction(95, 30)
    frames = sample(data, extract_fps=1)
    assert [frame.index for frame in frames] == [0, 1, 2, 3]
    assert [frame.time for frame in frames] == [0, 1, 2, 3]
    assert [frame.shown_time for frame in frames] == [0, 1, 2, 3]
    assert [read_number(frame.image) for frame in frames] == [0, 30, 60, 90]


def test_only_times_before_the_end_are_sampled():
    # 90 frames last exactly 3 s: t_3 = 3 s is not before the end.
    assert [read_number(frame.image) for frame in sample(encode_numbered(90), extract_fps=1)] == [0, 30, 60]


def test_a_duration_rounded_up_by_the_container_does_not_sample_the_last_frame_twice():
    # Matroska states 29 frames at 15 fps (1.9333 s) as 1.934 s: t_29 = 1.9333 s is still "before" it.
    data = encode_numbered(29, fps=15, fmt=Format(container="matroska"))
    assert facts(data).duration == Fraction(1934, 1000)
    assert [read_number(frame.image) for frame in sample(data, extract_fps=15)] == list(range(29))


def test_mpegts_is_sampled_from_its_first_frame():
    # Its seek lands on the keyframe after the target, even when the target is the stream's start.
    data = encode_numbered(60, fmt=Format(container="mpegts", gop=12))
    assert facts(data).start_pts > 0
    assert [read_number(frame.image) for frame in sample(data, extract_fps=2)] == [0, 15, 30, 45]


def test_29_97_fps_samples_every_30th_frame_at_1_001_seconds():
    data = encode_numbered(100, fps=Fraction(30000, 1001))
    video = facts(data)
    assert (video.fps, video.total_frames, video.duration) == (
        Fraction(30000, 1001),
        100,
        Fraction(100_100, 30_000),
    )
    frames = sample(data, extract_fps=1)
    assert [frame.time for frame in frames] == [Fraction(i * 30 * 1001, 30000) for i in range(4)]
    assert [read_number(frame.image) for frame in frames] == [0, 30, 60, 90]


def test_a_1_ms_time_base_does_not_make_sampling_drift_a_frame_early():
    # WebM stores frame 12 of 23.976 fps at 501 ms; t_1 = 12 x 1001 / 24000 s = 500.5 ms.
    data = encode_numbered(60, fps=Fraction(24000, 1001), fmt=Format(codec="vp9"))
    assert facts(data).time_base == Fraction(1, 1000)
    frames = sample(data, extract_fps=2)
    assert [read_number(frame.image) for frame in frames] == [12 * i for i in range(5)]


def test_max_frames_caps_the_count():
    data = encode_numbered(95)
    with open_video(io.BytesIO(data)) as video:
        sampling = video.sampling(extract_fps=10, max_frames=5)
        assert (sampling.step, sampling.count) == (3, 5)
        assert [read_number(frame.image) for frame in video.frames(sampling)] == [0, 3, 6, 9, 12]


def test_the_facts_of_a_video():
    data = encode_numbered(45, fps=15, fmt=Format(size=(160, 96)))
    assert facts(data) == VideoFacts(
        duration=Fraction(3),
        fps=Fraction(15),
        total_frames=45,
        frames_estimated=False,
        width=160,
        height=96,
        rotation=0,
        mirrored=False,
        codec="h264",
        container="mov,mp4,m4a,3gp,3g2,mj2",
        time_base=facts(data).time_base,
        start_pts=0,
        duration_from_stream=True,
    )
    assert (facts(data).duration_seconds, facts(data).fps_float) == (3.0, 15.0)


def test_webm_does_not_count_frames_so_they_are_estimated():
    video = facts(encode_numbered(45, fps=15, fmt=Format(codec="vp9")))
    assert (video.total_frames, video.frames_estimated, video.codec) == (45, True, "vp9")
    assert video.duration_from_stream  # FFmpeg's Matroska muxer writes each track's DURATION tag


def test_plan_sampling_counts_the_times_before_the_end():
    video = facts(encode_numbered(95))
    assert plan_sampling(video, extract_fps=1, max_frames=100) == Sampling(Fraction(30), 30, 4)
    assert plan_sampling(video, extract_fps=1, max_frames=0).count == 0


# --- variable frame rate ---

VFR_TIMES_MS = [0, 40, 50, 300, 310, 1000, 1033, 1500, 2100, 2105]


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_a_variable_frame_rate_video_is_sampled_by_time(container):
    data = encode_vfr(VFR_TIMES_MS, fmt=Format(container=container))
    frames = sample(data, extract_fps=8)
    assert frames, "nothing sampled"
    for frame in frames:
        # the frame on display at t_i: the last one shown at or before it (no frame time is within a
        # tick of a t_i here, so rounding t_i to ticks changes nothing)
        shown = max(k for k, at in enumerate(VFR_TIMES_MS) if Fraction(at, 1000) <= frame.time)
        assert read_number(frame.image) == shown, frame.time
        assert frame.shown_time == Fraction(VFR_TIMES_MS[shown], 1000)


def test_a_variable_frame_rate_mp4_states_its_average_rate():
    video = facts(encode_vfr(VFR_TIMES_MS))
    assert video.total_frames == 10
    assert video.fps == 10 / video.duration
    assert (
        Fraction(2105, 1000) < video.duration < Fraction(2105 + 600, 1000)
    )  # the last frame's time + its own


# --- rotation ---


def upright_picture() -> Image.Image:
    """A portrait picture no turn or mirror maps onto itself: red top-left, green top-right, blue bottom."""
    image = Image.new("RGB", (96, 160), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 32, 40))
    image.paste((0, 255, 0), (64, 0, 96, 40))
    image.paste((0, 0, 255), (0, 120, 96, 160))
    return image


def colour_at(image: Image.Image, x: float, y: float) -> str:
    """The dominant colour near the relative position (x, y), by name."""
    red, green, blue = image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))  # type: ignore[misc]
    values = {"red": red, "green": green, "blue": blue}
    name = max(values, key=lambda key: values[key])
    return name if values[name] > 128 else "black"


@pytest.mark.parametrize("rotation", [0, 90, 180, -90])
@pytest.mark.parametrize("hflip", [False, True])
def test_the_display_matrix_is_applied(rotation, hflip):
    upright = upright_picture()
    # What the camera stores: the player turns it `rotation` degrees counter-clockwise, then mirrors it.
    stored = (upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if hflip else upright).rotate(
        -rotation, expand=True
    )
    data = encode(
        [(stored, k) for k in range(5)],
        time_base=Fraction(1, 30),
        fmt=Format(size=stored.size, rotation=rotation, hflip=hflip),
    )
    video = facts(data)
    assert (video.width, video.height, video.mirrored) == (96, 160, hflip)
    (frame, *_) = sample(data, extract_fps=30)
    assert frame.image.size == (96, 160)
    corners = [colour_at(frame.image, x, y) for x, y in ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9), (0.5, 0.5))]
    assert corners == ["red", "green", "blue", "black"]


def test_a_phone_video_held_upright_says_270_and_comes_out_portrait():
    # Phones store the sensor's landscape picture and a matrix turning it 90 degrees clockwise (the
    # "rotate=90" tag of old FFmpeg): counter-clockwise, that is 270.
    stored = upright_picture().transpose(Image.Transpose.ROTATE_90)
    data = encode(
        [(stored, k) for k in range(5)], time_base=Fraction(1, 30), fmt=Format(size=(160, 96), rotation=-90)
    )
    video = facts(data)
    assert (video.rotation, video.width, video.height) == (270, 96, 160)
    assert colour_at(sample(data, extract_fps=30)[0].image, 0.1, 0.1) == "red"


# --- ranges ---


def fingerprint(frames: list[SampledFrame]) -> list[tuple[int, Fraction, Fraction, bytes, int | None]]:
    return [
        (f.index, f.time, f.shown_time, f.image.tobytes(), f.cut.index if f.cut else None) for f in frames
    ]


def by_ranges(data: bytes, extract_fps: float, bounds: list[int]) -> list[SampledFrame]:
    """The frames of consecutive ranges, each from a freshly opened video, as separate invocations would."""
    frames: list[SampledFrame] = []
    for start, stop in itertools.pairwise(bounds):
        with open_video(io.BytesIO(data)) as video:
            frames += video.frames(video.sampling(extract_fps=extract_fps, max_frames=10_000), start, stop)
    return frames


SHOTS = [Shot(bicycle, 40), Shot(street, 50), Shot(park, 30), Shot(night, 37)]  # 157 frames, 5.2 s
EXTRACT_FPS = 6  # step 5: 32 sampled frames


@pytest.fixture(scope="module")
def gops() -> tuple[bytes, list[SampledFrame]]:
    """A video of several shots with a keyframe every 12 frames, and its frames sampled in one go."""
    data = encode_shots(SHOTS, fmt=Format(gop=12))
    return data, sample(data, extract_fps=EXTRACT_FPS)


def test_the_single_run_has_the_known_cuts(gops):
    _, whole = gops
    assert len(whole) == 32
    assert [f.index for f in whole if f.cut] == [8, 18, 24]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(min_value=1, max_value=31), max_size=6))
def test_any_split_into_ranges_gives_the_same_frames_and_cuts(gops, cuts):
    data, whole = gops
    bounds = [0, *sorted(cuts), len(whole)]
    assert fingerprint(by_ranges(data, EXTRACT_FPS, bounds)) == fingerprint(whole)


@pytest.mark.parametrize(
    "fmt",
    [
        Format(gop=12, container="mpegts"),  # its seeks land after the target: seeking again is tested
        Format(gop=12, codec="vp9"),
        Format(gop=12, container="matroska"),
    ],
    ids=["mpegts", "webm", "matroska"],
)
def test_ranges_of_one_frame_give_the_same_frames_in_other_containers(fmt):
    data = encode_shots(SHOTS, fmt=fmt)
    whole = sample(data, extract_fps=EXTRACT_FPS)
    assert [f.index for f in whole if f.cut] == [8, 18, 24]
    assert fingerprint(by_ranges(data, EXTRACT_FPS, list(range(len(whole) + 1)))) == fingerprint(whole)


def test_an_open_video_serves_ranges_in_any_order(gops):
    data, whole = gops
    with open_video(io.BytesIO(data)) as video:
        sampling = video.sampling(extract_fps=EXTRACT_FPS, max_frames=10_000)
        late, early = list(video.frames(sampling, 20, 32)), list(video.frames(sampling, 0, 20))
    assert fingerprint(early + late) == fingerprint(whole)


def test_a_range_outside_the_sampling_is_refused_when_asked_for(gops):
    data, _ = gops
    with open_video(io.BytesIO(data)) as video:
        sampling = video.sampling(extract_fps=EXTRACT_FPS, max_frames=10_000)
        with pytest.raises(ValueError, match="not within"):
            video.frames(sampling, 40, 45)  # at the call, not at the first frame
        assert list(video.frames(sampling, 5, 5)) == []
        assert [f.index for f in video.frames(sampling, 30, 99)] == [30, 31]  # stop is capped


def test_max_side_scales_the_sampled_pictures():
    data = encode_numbered(10, fmt=Format(size=(320, 180)))
    with open_video(io.BytesIO(data)) as video:
        (frame,) = video.frames(video.sampling(extract_fps=1, max_frames=1), max_side=160)
    assert frame.image.size == (160, 90)
    assert read_number(frame.image) == 0


def by_pieces(
    data: bytes, extract_fps: float, *, pieces: int
) -> tuple[list[tuple[int, int]], list[SampledFrame]]:
    """The pieces the function plans for the whole video, and their frames, each piece from a video opened
    anew with a single-threaded decoder, as the function decodes them side by side."""
    with open_video(io.BytesIO(data)) as video:
        sampling = video.sampling(extract_fps=extract_fps, max_frames=10_000)
        planned = plan_pieces(
            sampling, 0, sampling.count, video.keyframe_ticks(), video.facts.time_base,
            pieces=pieces, min_seconds=0.5,
        )  # fmt: skip
    frames: list[SampledFrame] = []
    for start, stop in planned:
        with open_video(io.BytesIO(data), decode_threads=1) as own:
            frames += own.frames(sampling, start, stop)
    return planned, frames


@pytest.mark.parametrize(
    ("fmt", "split"),
    [
        (Format(gop=12), True),
        (Format(gop=12, container="matroska"), True),
        (Format(gop=12, codec="vp9"), True),
        (Format(gop=12, container="mpegts"), False),  # no index up front: one piece
    ],
    ids=["mp4", "matroska", "webm", "mpegts"],
)
def test_pieces_on_single_threaded_decoders_give_the_same_frames_and_cuts(fmt, split):
    data = encode_shots(SHOTS, fmt=fmt)
    whole = sample(data, extract_fps=EXTRACT_FPS)
    planned, frames = by_pieces(data, EXTRACT_FPS, pieces=4)
    assert (len(planned) == 4) is split, planned
    assert fingerprint(frames) == fingerprint(whole)


def test_keyframes_are_on_the_presentation_clock(gops):
    """MP4's index counts decode time (B-frames put it 2 frames early): the keyframes come out on the
    presentation clock, every 12th frame, as the encoder placed them."""
    data, _ = gops
    with open_video(io.BytesIO(data)) as video:
        ticks_per_frame = 1 / (video.facts.fps * video.facts.time_base)
        frames = [Fraction(ticks) / ticks_per_frame for ticks in video.keyframe_ticks()]
    assert frames[:4] == [0, 12, 24, 36]


@settings(max_examples=200, deadline=None)
@given(
    keyframes=st.lists(st.integers(min_value=0, max_value=30_000), max_size=40),
    step=st.integers(min_value=1, max_value=40),
    count=st.integers(min_value=1, max_value=400),
    start=st.integers(min_value=0, max_value=399),
    pieces=st.integers(min_value=1, max_value=8),
    min_seconds=st.sampled_from([0.5, 1.0, 4.0]),
)
def test_pieces_cover_the_run_and_start_just_after_a_keyframe(
    keyframes, step, count, start, pieces, min_seconds
):
    sampling = Sampling(fps=Fraction(30000, 1001), step=step, count=count)
    time_base = Fraction(1, 90_000)
    start = min(start, count - 1)
    planned = plan_pieces(
        sampling, start, count, sorted(keyframes), time_base, pieces=pieces, min_seconds=min_seconds
    )
    assert 1 <= len(planned) <= pieces
    assert planned[0][0] == start
    assert planned[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(planned))
    if len(planned) > 1:
        assert all(sampling.time(last) - sampling.time(first) >= min_seconds for first, last in planned)
    for first, _ in planned[1:]:  # decoding starts at a keyframe less than a step before T_{first-1}
        before = sampling.ticks(first - 1, time_base)
        earlier = sampling.ticks(first - 2, time_base) if first >= 2 else -1
        assert any(earlier < keyframe <= before for keyframe in keyframes)


def test_a_minute_with_a_keyframe_every_second_is_cut_into_equal_pieces():
    sampling = Sampling(fps=Fraction(30), step=30, count=60)
    keyframes = [second * 15_360 for second in range(60)]
    planned = plan_pieces(sampling, 0, 60, keyframes, Fraction(1, 15_360), pieces=6, min_seconds=4)
    assert planned == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]
    assert plan_pieces(sampling, 0, 60, [], Fraction(1, 15_360), pieces=6, min_seconds=4) == [(0, 60)]
    assert plan_pieces(sampling, 0, 60, keyframes, Fraction(1, 15_360), pieces=6, min_seconds=30) == [
        (0, 30),
        (30, 60),
    ]


def test_an_mpeg_ts_lists_no_keyframes():
    """Its demuxer's index holds the packets read so far, not keyframes: no piece boundary from it."""
    with open_video(io.BytesIO(encode_shots(SHOTS, fmt=Format(gop=12, container="mpegts")))) as video:
        list(video.frames(video.sampling(extract_fps=EXTRACT_FPS, max_frames=10_000)))
        assert video.keyframe_ticks() == []
