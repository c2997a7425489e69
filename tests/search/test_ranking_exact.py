"""The int8 scan with its float32 rerank returns the float32 oracle's top-k (ties aside), on
random and on clustered vectors, with `min_score` and per-video filters; the codes give back every
float16 row exactly, and every row's approximate score is within the bound the rerank relies on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipsearch.cache.codes import Codes
from clipsearch.cache.video_vectors import Shelf, VideoVectors, frame_indices
from clipsearch.index.ranking import RankOptions, approximate_scores, rank

DIM = 512
PER_VIDEO = 250


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def random_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return unit(rng.standard_normal((n, DIM)))


def clustered_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Tight clusters: many near-ties around the k-th best, the hard case for a coarse scan."""
    centres = random_rows(rng, 20)
    return unit(centres[rng.integers(0, 20, n)] + 0.02 * rng.standard_normal((n, DIM)))


def shelf_of(rows: np.ndarray) -> Shelf:
    videos = []
    for start in range(0, len(rows), PER_VIDEO):
        ids = [f"frame_{i:06d}" for i in range(min(PER_VIDEO, len(rows) - start))]
        videos.append(
            VideoVectors(
                video_id=f"v{start // PER_VIDEO:04d}",
                model="m",
                dim=DIM,
                frame_ids=ids,
                frame_keys=ids,
                frame_indices=frame_indices(ids),
                codes=Codes.of(rows[start : start + len(ids)].astype(np.float16)),  # as cached
                source="packed",
                version="1",
                covered_frames=len(ids),
            )
        )
    return Shelf.of(videos)


_decoded: list[tuple[Shelf, np.ndarray]] = []


def matrix(shelf: Shelf) -> np.ndarray:
    """Every row of the shelf, in its numbering, as one float32 matrix (the last one kept)."""
    if not _decoded or _decoded[0][0] is not shelf:
        every = [video.codes.rows(np.arange(len(video.frame_ids))) for video in shelf.videos]
        _decoded[:] = [(shelf, np.concatenate(every).astype(np.float32))]
    return _decoded[0][1]


def exact(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The float32 oracle's scores: each dot product rounded once to float32 (float64 sums: no
    order of summation decides a tie)."""
    return (rows.astype(np.float64) @ query.astype(np.float64)).astype(np.float32)


def oracle(
    shelf: Shelf, query: np.ndarray, top_k: int, min_score: float | None, allowed: np.ndarray
) -> list[int]:
    """The exact scan: every row, best first, ties by position."""
    scores = exact(matrix(shelf), query)
    rows = np.flatnonzero(allowed & (scores >= min_score if min_score is not None else True))
    return [int(r) for r in rows[np.lexsort((rows, -scores[rows]))][:top_k]]


@pytest.mark.parametrize("data", [random_rows, clustered_rows])
@pytest.mark.parametrize("top_k", [1, 10, 100])
def test_top_k_is_the_float32_oracles(data, top_k):
    rng = np.random.default_rng(top_k)
    rows = data(rng, 20_000)
    shelf = shelf_of(rows)
    queries = np.concatenate([random_rows(rng, 5), unit(rows[:5] + 0.01 * rng.standard_normal((5, DIM)))])
    for query in queries:
        hits = rank(shelf, query, RankOptions(top_k=top_k))
        got = [int(shelf.starts[int(h.video.video_id[1:])] + h.row) for h in hits]
        want = oracle(shelf, query, top_k, None, np.ones(len(rows), bool))
        assert got == want
        assert [h.score for h in hits] == exact(matrix(shelf)[got], query).tolist()


@pytest.mark.parametrize("data", [random_rows, clustered_rows])
def test_filters_and_min_score_match_the_oracle(data):
    rng = np.random.default_rng(7)
    rows = data(rng, 10_000)
    shelf = shelf_of(rows)
    query = unit(rows[3:4] + 0.05 * rng.standard_normal((1, DIM)))[0]
    scores = exact(matrix(shelf), query)
    min_score = float(np.sort(scores)[-40])  # exactly the 40th best: a row sits on the cut-off
    odd = {v.video_id for i, v in enumerate(shelf.videos) if i % 2}
    allowed = np.zeros(len(rows), bool)
    for index, v in enumerate(shelf.videos):
        if v.video_id in odd:
            allowed[shelf.starts[index] : shelf.starts[index] + len(v.frame_ids)] = True

    def allow(video: VideoVectors) -> np.ndarray | None:
        return None if video.video_id in odd else np.zeros(len(video.frame_ids), bool)

    hits = rank(shelf, query, RankOptions(top_k=100, min_score=min_score, allow=allow))
    got = [int(shelf.starts[int(h.video.video_id[1:])] + h.row) for h in hits]
    assert got == oracle(shelf, query, 100, min_score, allowed)
    assert all(h.score >= min_score for h in hits)


def test_rows_closer_than_the_codes_rounding_still_rank_exactly():
    """Rows that differ by less than their codes' rounding: the rerank orders them."""
    rng = np.random.default_rng(3)
    base = random_rows(rng, 1)[0]
    rows = unit(base + 1e-3 * rng.standard_normal((2_000, DIM)))
    shelf = shelf_of(rows)
    for query in unit(base + 0.2 * rng.standard_normal((5, DIM))):
        hits = rank(shelf, query, RankOptions(top_k=10))
        got = [int(shelf.starts[int(h.video.video_id[1:])] + h.row) for h in hits]
        assert got == oracle(shelf, query, 10, None, np.ones(len(rows), bool))


# Properties (Hypothesis): any unit rows, including the shapes that stress the codes (one large
# element, elements far below the scale, exact halves), any query, any k, cut-off and filter.

unit_row_shapes = st.sampled_from(
    ["gaussian", "one large", "tiny tail", "one-hot", "few levels", "near ties", "ties"]
)


def shaped_rows(rng: np.random.Generator, shape: str, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim))
    if shape == "one large":
        rows[:, rng.integers(0, dim)] *= 40
    elif shape == "tiny tail":
        rows[:, dim // 2 :] *= 1e-5
    elif shape == "one-hot":
        rows = np.eye(dim)[rng.integers(0, dim, n)] * rng.choice([-1, 1], (n, 1))
    elif shape == "few levels":  # many exact halves of a code step
        rows = (rng.integers(-3, 4, (n, dim)) + 0.5).astype(np.float64)
    elif shape == "near ties":  # scores closer than the codes' rounding
        rows = rows[:1] + 1e-3 * rows
    elif shape == "ties":  # equal rows: ties broken by position
        rows = np.repeat(rows[:1], n, axis=0)
    return unit(rows).astype(np.float16)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=unit_row_shapes,
    n=st.integers(1, 60),
    dim=st.sampled_from([1, 2, 7, 64, 512]),
)
def test_codes_give_back_every_float16_row_exactly_and_bound_their_error(seed, shape, n, dim):
    rng = np.random.default_rng(seed)
    rows = shaped_rows(rng, shape, n, dim)
    codes = Codes.of(rows)
    assert np.array_equal(codes.rows(np.arange(n)).view(np.uint16), rows.view(np.uint16))
    which = rng.integers(0, n, 5)
    assert np.array_equal(codes.rows(which).view(np.uint16), rows[which].view(np.uint16))
    assert np.abs(codes.codes.astype(np.int16)).max() <= 127
    coded = codes.scale * codes.codes.astype(np.float64)
    assert np.all(np.linalg.norm(rows.astype(np.float64) - coded, axis=1) <= codes.residual)
    assert np.linalg.norm(coded, axis=1).max() <= codes.coded_norm


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=unit_row_shapes,
    videos=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    top_k=st.integers(1, 30),
    cut=st.sampled_from([None, "kth", "low"]),
    filtered=st.booleans(),
)
def test_any_shelf_ranks_as_the_float32_oracle(seed, shape, videos, top_k, cut, filtered):
    rng = np.random.default_rng(seed)
    dim = 64
    per_video = [shaped_rows(rng, shape, n, dim) for n in videos]
    shelf = Shelf.of(
        [
            VideoVectors(
                video_id=f"v{index}",
                model="m",
                dim=dim,
                frame_ids=[f"frame_{i:06d}" for i in range(len(rows))],
                frame_keys=[f"frame_{i:06d}" for i in range(len(rows))],
                frame_indices=np.arange(len(rows), dtype=np.int64),
                codes=Codes.of(rows),
                source="packed",
                version="1",
                covered_frames=len(rows),
            )
            for index, rows in enumerate(per_video)
        ]
    )
    every = np.concatenate(per_video).astype(np.float32) if shelf.rows else np.zeros((0, dim), np.float32)
    query = unit(rng.standard_normal((1, dim)) + (every[rng.integers(0, len(every))] if len(every) else 0))[0]
    scores = exact(every, query)
    min_score = None
    if cut == "kth" and len(scores):
        min_score = float(np.sort(scores)[-min(top_k, len(scores))])  # a row sits on the cut-off
    elif cut == "low":
        min_score = -0.5
    allowed_videos = {f"v{index}" for index in range(len(videos)) if not filtered or index % 2 == 0}
    allowed = np.concatenate([np.full(n, f"v{i}" in allowed_videos) for i, n in enumerate(videos)])

    def allow(video: VideoVectors) -> np.ndarray | None:
        return None if video.video_id in allowed_videos else np.zeros(len(video.frame_ids), bool)

    hits = rank(shelf, query, RankOptions(top_k=top_k, min_score=min_score, allow=allow))
    got = [int(shelf.starts[int(h.video.video_id[1:])] + h.row) for h in hits]
    rows = np.flatnonzero(allowed & (scores >= min_score if min_score is not None else True))
    want = [int(r) for r in rows[np.lexsort((rows, -scores[rows]))][:top_k]]
    assert got == want
    assert [h.score for h in hits] == scores[want].tolist()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=unit_row_shapes, dim=st.sampled_from([2, 64, 512]))
def test_every_approximate_score_is_within_its_videos_bound(seed, shape, dim):
    """The bound the rerank relies on: the query's and each row's rounding to codes, both sides."""
    rng = np.random.default_rng(seed)
    per_video = [shaped_rows(rng, shape, 30, dim) for _ in range(3)]
    shelf = Shelf.of(
        [
            VideoVectors(
                video_id=f"v{index}",
                model="m",
                dim=dim,
                frame_ids=[f"frame_{i:06d}" for i in range(30)],
                frame_keys=[f"frame_{i:06d}" for i in range(30)],
                frame_indices=np.arange(30, dtype=np.int64),
                codes=Codes.of(rows),
                source="packed",
                version="1",
                covered_frames=30,
            )
            for index, rows in enumerate(per_video)
        ]
    )
    for query in [
        unit(rng.standard_normal((1, dim)))[0],
        per_video[0][0].astype(np.float32),
        np.zeros(dim, np.float32),
    ]:
        approx, bounds = approximate_scores(shelf, query)
        error = np.abs(approx.astype(np.float64) - np.concatenate(per_video).astype(np.float64) @ query)
        assert np.all(error <= np.repeat(bounds, 30))
