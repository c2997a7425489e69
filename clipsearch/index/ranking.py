"""Exact top-k over videos' vectors: filters, deterministic ties, near-duplicate collapse.

Vectors are held exactly as cached (float16), as int8 codes plus the bytes that complete them
(clipsearch.cache.codes), each video on its own (never copied to rank). The scan is two steps:
SimSIMD's int8 dot product of every row's codes (0.5 KB per 512-d row) with the query's, then an
exact float32 rerank of every row that could still be in the top k. A row's approximate score is
off by at most `|q - a qc| * |s c| + |q| * |row - s c|` (the query's and the row's rounding to
their codes, Cauchy-Schwarz; bounded per video), plus slack for float32 roundings: every row
whose score plus its bound reaches the k-th best score minus its bound is reranked, so the result
is exactly the float32 scan's (tests/search/test_ranking_exact.py pins it; decision 0014).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import simsimd

from clipsearch.cache.codes import CODE_MAX, decode
from clipsearch.cache.video_vectors import Shelf, VideoVectors
from clipsearch.vectors import Vector

T = TypeVar("T")

# Slack on top of the rounding bound: the exact score's one rounding to float32, and the approximate
# score's one float32 product (each about 1e-7).
SCORE_SLACK = 1e-4

# Two frames of one video at most this many frames apart, and at least this similar, show the same
# moment: `dedupe` keeps only the better scoring of them.
DEDUPE_WINDOW = 2
DEDUPE_SIMILARITY = 0.9


@dataclass(frozen=True)
class Hit:
    video: VideoVectors
    row: int
    score: float


@dataclass(frozen=True)
class RankOptions:
    top_k: int
    min_score: float | None = None
    dedupe: bool = False
    # row filter per video: True where a frame may be returned (None: all)
    allow: Callable[[VideoVectors], npt.NDArray[np.bool_] | None] | None = None


def rank(shelf: Shelf, query: Vector, options: RankOptions) -> list[Hit]:
    """The best `top_k` frames by cosine (vectors are unit length: a dot product), best first.

    Ties break by video order (as shelved) then row, so equal scores always come back in one order.
    """
    videos, starts = shelf.videos, shelf.starts
    if not videos:
        return []
    query = np.ascontiguousarray(query, dtype=np.float32)
    approx, bounds = approximate_scores(shelf, query)
    eligible = _eligible(shelf, approx, float(bounds.max()), options)
    wanted = options.top_k * (8 if options.dedupe else 1)
    while True:
        pool, everything = _could_be_best(shelf, approx, bounds, eligible, wanted)
        scores = exact_scores(shelf, pool, query)
        if options.min_score is not None:
            keep = scores >= options.min_score
            pool, scores = pool[keep], scores[keep]
        # Best first; equal scores by global position (video order, then row).
        order = np.lexsort((pool, -scores))[:wanted]
        ordered, ordered_scores = pool[order], scores[order]
        owners = np.searchsorted(starts, ordered, side="right") - 1
        hits = [
            Hit(videos[owner], int(row - starts[owner]), float(score))
            for row, owner, score in zip(ordered, owners, ordered_scores, strict=True)
        ]
        if options.dedupe:
            hits = _collapse_neighbours(hits)
        if len(hits) >= options.top_k or everything:
            return hits[: options.top_k]
        wanted *= 4  # too many collapsed: look deeper


def _eligible(
    shelf: Shelf, approx: Vector, bound: float, options: RankOptions
) -> npt.NDArray[np.intp] | None:
    """The rows the filters and `min_score` leave (ascending), or None for every row."""
    if options.min_score is None and options.allow is None:
        return None
    eligible = np.ones(len(approx), dtype=bool)
    if options.min_score is not None:
        eligible &= approx >= np.float32(options.min_score - bound)
    if options.allow is not None:
        for video, start in zip(shelf.videos, shelf.starts.tolist(), strict=True):
            mask = options.allow(video)
            if mask is not None:
                eligible[start : start + len(video.frame_ids)] &= mask
    return np.flatnonzero(eligible)


def _could_be_best(
    shelf: Shelf,
    approx: Vector,
    bounds: npt.NDArray[np.float64],
    eligible: npt.NDArray[np.intp] | None,
    wanted: int,
) -> tuple[npt.NDArray[np.intp], bool]:
    """The eligible rows that could be among the best `wanted` (ascending), and whether that is all
    of them. The best `wanted` approximate scores' rows score at least their lower bounds, so a row
    whose upper bound is below the wanted-th best lower bound cannot be among them, however close.
    First with the largest bound of all videos (one pass over every row), then each row's video's."""
    among = approx if eligible is None else approx[eligible]
    if len(among) <= wanted:
        return (np.arange(len(approx)) if eligible is None else eligible), True
    loose = float(bounds.max())
    near = np.flatnonzero(among >= np.float32(_kth_largest(among, wanted) - 2 * loose))
    rows = near if eligible is None else eligible[near]
    error = bounds[np.searchsorted(shelf.starts, rows, side="right") - 1]
    lower, upper = approx[rows] - error, approx[rows] + error
    pool = rows[upper >= _kth_largest(lower, wanted)]  # `near` holds the best `wanted` approximate
    return pool, len(pool) == len(among)


def _kth_largest(values: npt.NDArray[np.floating], k: int) -> float:
    """The k-th largest of `values` (k <= len). A sample's k-th largest is at most the whole's, so
    only the values reaching it are partitioned (about a thousandth of them at 10^6 and k = 10)."""
    stride = len(values) // (32 * k)
    if stride > 1:
        sample = values[::stride]
        values = values[values >= np.partition(sample, len(sample) - k)[len(sample) - k]]
    return float(np.partition(values, len(values) - k)[len(values) - k])


def approximate_scores(shelf: Shelf, query: Vector) -> tuple[Vector, npt.NDArray[np.float64]]:
    """Every row's score from its codes and the query's (one SimSIMD call per video, on its own
    codes), and for each video the most its rows' scores can differ from the exact ones."""
    scale = np.float32(max(float(np.abs(query).max()), 1e-30) / CODE_MAX)  # 1e-30: a zero query
    coded = np.rint(query / scale).astype(np.int8)
    rounding = float(np.linalg.norm(query.astype(np.float64) - float(scale) * coded))
    length = float(np.linalg.norm(query.astype(np.float64))) * (1 + 1e-6)
    scores = np.empty(shelf.rows, dtype=np.float32)
    sizes = [len(video.frame_ids) for video in shelf.videos]
    for video, start, size in zip(shelf.videos, shelf.starts.tolist(), sizes, strict=True):
        if size:  # exact integer sums (at most 512 * 127^2 < 2^24)
            scores[start : start + size] = simsimd.cdist(
                coded[None, :], video.codes.codes, metric="dot", out_dtype="float32"
            )
    # Times each video's power of two and the query's scale: one rounding. Most videos share their
    # power of two, so one pass for all, then exact powers of two for the others.
    exponents = [video.codes.exponent for video in shelf.videos]
    common = max(set(exponents), key=exponents.count, default=0)
    scores *= np.float32(2.0**common) * scale
    for exponent, start, size in zip(exponents, shelf.starts.tolist(), sizes, strict=True):
        if exponent != common:
            scores[start : start + size] *= np.float32(2.0 ** (exponent - common))
    residuals = np.array([video.codes.residual for video in shelf.videos])
    coded_norms = np.array([video.codes.coded_norm for video in shelf.videos])
    return scores, length * residuals + rounding * coded_norms + SCORE_SLACK


def exact_scores(shelf: Shelf, rows: npt.NDArray[np.intp], query: Vector) -> Vector:
    """These rows' exact scores, rounded once to float32 (rows ascending): float64 sums of the
    float16 rows' products with the query (each product exact), so no order of summation decides
    a tie."""
    owners = np.searchsorted(shelf.starts, rows, side="right") - 1
    local = rows - shelf.starts[owners]
    edges = [0, *(np.flatnonzero(np.diff(owners)) + 1).tolist(), len(rows)]  # one run per video
    parts = [
        shelf.videos[int(owners[first])].codes.take(local[first:end])
        for first, end in itertools.pairwise(edges)
        if end > first
    ]
    if not parts:
        return np.zeros(0, np.float32)
    return (decode(parts).astype(np.float64) @ query.astype(np.float64)).astype(np.float32)


def _collapse_neighbours(hits: list[Hit]) -> list[Hit]:
    return collapse_neighbours(
        hits,
        lambda hit: (
            hit.video.video_id,
            int(hit.video.frame_indices[hit.row]),
            hit.video.codes.rows(np.array([hit.row]))[0].astype(np.float32),
        ),
    )


def collapse_neighbours(hits: Sequence[T], frame: Callable[[T], tuple[str, int, Vector]]) -> list[T]:
    """`hits` (best first) without those that show the same moment as a better one kept:
    `frame(hit)` is its (video id, frame index, vector). Both backends collapse with this."""
    kept: list[tuple[T, str, int, Vector]] = []
    for hit in hits:
        video_id, index, vector = frame(hit)
        duplicate = index >= 0 and any(
            other_video == video_id
            and abs(other_index - index) <= DEDUPE_WINDOW
            and float(other_vector @ vector) >= DEDUPE_SIMILARITY
            for _, other_video, other_index, other_vector in kept
        )
        if not duplicate:
            kept.append((hit, video_id, index, vector))
    return [hit for hit, *_ in kept]
