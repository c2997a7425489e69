"""The float16 scan with its float32 rerank returns the float32 oracle's top-k (ties aside), on
random and on clustered vectors, with `min_score` and per-video filters."""

from __future__ import annotations

import numpy as np
import pytest

from clipsearch.cache.video_vectors import Shelf, VideoVectors, frame_indices
from clipsearch.index.ranking import RankOptions, rank

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
                vectors=rows[start : start + len(ids)].astype(np.float16),  # as cached
                source="packed",
                version="1",
                covered_frames=len(ids),
            )
        )
    return Shelf.of(videos)


def matrix(shelf: Shelf) -> np.ndarray:
    """Every row of the shelf, in its numbering, as one float32 matrix."""
    return np.concatenate([video.vectors for video in shelf.videos]).astype(np.float32)


def oracle(
    shelf: Shelf, query: np.ndarray, top_k: int, min_score: float | None, allowed: np.ndarray
) -> list[int]:
    """The float32 scan: the whole matrix, one product, best first, ties by position."""
    scores = matrix(shelf) @ query
    rows = np.flatnonzero(allowed & (scores >= min_score if min_score is not None else True))
    return [int(r) for r in rows[np.lexsort((rows, -scores[rows]))][:top_k]]


def same_ignoring_ties(shelf: Shelf, query: np.ndarray, got: list[int], want: list[int]) -> None:
    scores = matrix(shelf) @ query
    assert len(got) == len(want)
    np.testing.assert_allclose(scores[got], scores[want], rtol=0, atol=1e-6)
    differing = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert all(abs(scores[g] - scores[w]) <= 1e-6 for g, w in differing)  # only ties may swap


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
        same_ignoring_ties(shelf, query, got, want)
        exact = matrix(shelf)[got] @ query
        np.testing.assert_allclose([h.score for h in hits], exact, rtol=0, atol=1e-6)


@pytest.mark.parametrize("data", [random_rows, clustered_rows])
def test_filters_and_min_score_match_the_oracle(data):
    rng = np.random.default_rng(7)
    rows = data(rng, 10_000)
    shelf = shelf_of(rows)
    query = unit(rows[3:4] + 0.05 * rng.standard_normal((1, DIM)))[0]
    scores = matrix(shelf) @ query
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
    same_ignoring_ties(shelf, query, got, oracle(shelf, query, 100, min_score, allowed))
    assert all(h.score >= min_score for h in hits)


def test_rows_closer_than_float16_query_rounding_still_rank_exactly():
    """Rows that differ by less than the float16 rounding of the query: the rerank orders them."""
    rng = np.random.default_rng(3)
    base = random_rows(rng, 1)[0]
    rows = unit(base + 1e-3 * rng.standard_normal((2_000, DIM)))
    shelf = shelf_of(rows)
    for query in unit(base + 0.2 * rng.standard_normal((5, DIM))):
        hits = rank(shelf, query, RankOptions(top_k=10))
        got = [int(shelf.starts[int(h.video.video_id[1:])] + h.row) for h in hits]
        same_ignoring_ties(shelf, query, got, oracle(shelf, query, 10, None, np.ones(len(rows), bool)))
