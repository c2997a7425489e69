"""Moments (`group: "moments"`): the grouping against a plain oracle (Hypothesis), and the search
contract on both index backends, which give the same moments for the same vectors."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.backend import FrameHit
from clipsearch.index.moments import PREVIEW_FRAMES, group_moments
from local.tiny_clip import PROJECTION_DIM
from tests.conftest import FakeLambdaContext
from tests.search.conftest import SearchWorld

# --- the grouping, against an oracle ---


@st.composite
def candidates(draw: st.DrawFn) -> tuple[list[FrameHit], dict[str, VideoInfo], float]:
    videos: dict[str, VideoInfo] = {}
    hits: list[FrameHit] = []
    for number in range(draw(st.integers(1, 3))):
        video_id = f"v{number}"
        timed = draw(st.booleans())
        cuts = tuple(sorted(draw(st.sets(st.integers(1, 40), max_size=4))))
        videos[video_id] = VideoInfo(
            video_id,
            "processed",
            video_fps=30.0 if timed else None,
            frame_step=15 if timed else None,
            cut_frames=cuts,
        )
        for index in sorted(draw(st.sets(st.integers(0, 40), min_size=1, max_size=15))):
            score = draw(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.7, 0.9]))  # ties on purpose
            hits.append(FrameHit(video_id, f"frame_{index:06d}", f"frames/{video_id}/f{index}", index, score))
    gap = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    return hits, videos, gap


@settings(max_examples=150, deadline=None)
@given(case=candidates(), top_k=st.integers(1, 50))
def test_moments_hold_the_definitions_properties(case, top_k):
    hits, videos, gap = case
    moments = group_moments(hits, videos, gap_s=gap, top_k=top_k)
    everything = group_moments(hits, videos, gap_s=gap, top_k=10**6)
    assert moments == everything[:top_k]  # top_k counts moments
    # every candidate is in exactly one moment, and moments never span two videos
    placed = [(m.video_id, frame.hit) for m in everything for frame in m.frames]
    assert sorted(placed, key=repr) == sorted(((h.video_id, h) for h in hits), key=repr)
    for moment in everything:
        info = videos[moment.video_id]
        assert {frame.hit.video_id for frame in moment.frames} == {moment.video_id}
        if not info.timed:
            assert len(moment.frames) == 1
            continue
        times = [frame.time_s for frame in moment.frames]
        assert times == sorted(times)  # type: ignore[type-var]
        for before, after in itertools.pairwise(moment.frames):
            assert after.time_s - before.time_s <= gap + 1e-9  # type: ignore[operator]
            assert not any(before.hit.frame_index < c <= after.hit.frame_index for c in info.cut_frames)
        assert moment.best.hit.score == max(frame.hit.score for frame in moment.frames)
        assert (moment.start_s, moment.end_s) == (times[0], times[-1])
        preview = moment.preview()
        assert len(preview) == min(PREVIEW_FRAMES, len(moment.frames))
        assert (preview[0], preview[-1]) == (moment.frames[0], moment.frames[-1])
    # moments of one video never overlap, and are maximal: the next frame would not join
    for video_id in videos:
        own = sorted(
            (m for m in everything if m.video_id == video_id and m.start_s is not None),
            key=lambda m: m.start_s or 0.0,
        )
        for earlier, later in itertools.pairwise(own):
            assert earlier.end_s < later.start_s  # type: ignore[operator]
            last, first = earlier.frames[-1], later.frames[0]
            separated = first.time_s - last.time_s > gap or any(  # type: ignore[operator]
                last.hit.frame_index < c <= first.hit.frame_index for c in videos[video_id].cut_frames
            )
            assert separated
    # ordered by score (best first), then video, then start
    keys = [(-m.score, m.video_id, m.start_s if m.start_s is not None else -1) for m in everything]
    assert keys == sorted(keys)


# --- the search contract, on both backends ---

DIM = PROJECTION_DIM  # the tiny model's: the S3 Vectors index is made for it


def vectors_with_scores(query: np.ndarray, scores: list[float], seed: int) -> np.ndarray:
    """Unit vectors whose cosine with the unit `query` is each of `scores` (to float16 precision)."""
    rng = np.random.default_rng(seed)
    rows = []
    for score in scores:
        noise = rng.standard_normal(len(query))
        noise -= (noise @ query) * query
        noise /= np.linalg.norm(noise)
        rows.append(score * query + np.sqrt(1 - score**2) * noise)
    return np.array(rows, dtype=np.float32)


def search(world: SearchWorld, **request: Any) -> dict[str, Any]:
    status, body = world.search(request, FakeLambdaContext())
    assert status == 200, body
    return body


@pytest.fixture
def two_videos(world: SearchWorld) -> np.ndarray:
    """`cuts`: 10 frames half a second apart, a shot cut before frame 5; `plain`: 6 frames, no cuts.
    The query is the first axis."""
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    world.add_video("cuts", frames_count=10)
    world.dynamodb.update_item(
        TableName="videos",
        Key={"video_id": {"S": "cuts"}},
        UpdateExpression="SET cut_frames = :cuts",
        ExpressionAttributeValues={":cuts": {"L": [{"N": "5"}]}},
    )
    world.pack("cuts", vectors_with_scores(query, [0.9, 0.8, 0.7, 0.6, 0.5, 0.95, 0.85, 0.2, 0.2, 0.2], 1))
    world.add_video("plain", frames_count=6)
    world.pack("plain", vectors_with_scores(query, [0.3, 0.35, 0.4, 0.3, 0.3, 0.3], 2))
    return query


@pytest.mark.usefixtures("two_videos")
def test_moments_are_runs_of_one_videos_frames_that_never_span_a_cut(world: SearchWorld, two_videos):
    body = search(world, embedding=two_videos.tolist(), group="moments", min_score=0.25)
    assert body["group"] == "moments"
    assert "results" not in body
    summary = [
        (m["video_id"], m["start_s"], m["end_s"], m["score"], m["frame_count"]) for m in body["moments"]
    ]
    assert summary == [
        ("cuts", 2.5, 3.0, pytest.approx(0.95, abs=2e-3), 2),  # frames 5-6: after the cut
        ("cuts", 0.0, 2.0, pytest.approx(0.9, abs=2e-3), 5),  # frames 0-4: before it
        ("plain", 0.0, 2.5, pytest.approx(0.4, abs=2e-3), 6),
    ]
    first = body["moments"][0]
    assert first["rank"] == 1
    assert first["best"]["frame_id"] == "frame_000005"
    assert first["best"]["timestamp_s"] == 2.5
    assert [frame["frame_id"] for frame in body["moments"][1]["preview"]] == [
        f"frame_{i:06d}" for i in range(5)
    ]


def test_top_k_counts_moments_and_the_gap_and_filters_apply(world: SearchWorld, two_videos):
    query = two_videos.tolist()
    assert len(search(world, embedding=query, group="moments", min_score=0.25, top_k=2)["moments"]) == 2
    # a gap shorter than the frames' spacing: one frame a moment
    single = search(world, embedding=query, group="moments", min_score=0.25, moment_gap_s=0.25, top_k=50)[
        "moments"
    ]
    assert all(m["frame_count"] == 1 for m in single)
    assert len(single) == 7 + 6
    only = search(world, embedding=query, group="moments", video_ids=["plain"])["moments"]
    assert {m["video_id"] for m in only} == {"plain"}
    window = search(world, embedding=query, group="moments", time_range=[1.0, 2.0], video_ids=["cuts"])
    assert [(m["start_s"], m["end_s"]) for m in window["moments"]] == [(1.0, 2.0)]


def test_frames_stay_the_default_and_moment_options_need_moments(world: SearchWorld, two_videos):
    body = search(world, embedding=two_videos.tolist())
    assert "results" in body
    assert "moments" not in body
    status, refused = world.search({"embedding": two_videos.tolist(), "moment_gap_s": 2}, FakeLambdaContext())
    assert status == 400
    assert "moment_gap_s" in refused["error"]
    status, refused = world.search({"embedding": two_videos.tolist(), "group": "scenes"}, FakeLambdaContext())
    assert (status, refused["error"].split(" got")[0]) == (
        400,
        'group must be "frames" (single frames) or "moments" (time ranges),',
    )


def test_both_backends_give_the_oracles_moments(world: SearchWorld):
    """Each backend's moments equal the oracle's (the grouping of an exact float32 ranking of the
    same vectors), so the two backends give the same moments."""
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    hits, info = [], {}
    for number in range(3):
        video_id = f"v{number}"
        world.add_video(video_id, frames_count=20)
        # distinct scores everywhere (no ties a backend's rounding could break either way)
        scores = np.random.default_rng(number).permutation(np.linspace(-0.2, 0.9, 20) - number * 0.013)
        vectors = world.pack(video_id, vectors_with_scores(query, list(scores), number)).vectors.astype(
            np.float32
        )
        info[video_id] = VideoInfo(video_id, "processed", video_fps=30, frame_step=15)
        for index, row in enumerate(vectors):
            score = float(row @ query)
            if score >= 0.3:
                hits.append(FrameHit(video_id, f"frame_{index:06d}", f"frames/{video_id}/x", index, score))
    hits.sort(key=lambda hit: (-hit.score, hit.video_id, hit.frame_index))
    oracle = group_moments(hits[:100], info, gap_s=1.0, top_k=50)
    body = search(world, embedding=query.tolist(), group="moments", min_score=0.3, moment_gap_s=1.0, top_k=50)
    found = [(m["video_id"], m["start_s"], m["end_s"], m["frame_count"]) for m in body["moments"]]
    assert found == [(m.video_id, m.start_s, m.end_s, len(m.frames)) for m in oracle]
    assert len(found) > 3
