"""Exact top-k over videos' vectors: filters, deterministic ties, near-duplicate collapse.

Vectors are held as float16 (the cache's own precision: 1 KB per 512-d vector, half of float32),
each video in its own matrix (never copied to rank). numpy has no fast float16 kernel (upcasting
10^6 x 512 costs about 2 s), so the scan is two steps: SimSIMD's float16 dot product of every row
with the query rounded to float16, then an exact float32 rerank of the candidates. Rounding the
query moves a row's score by at most `|q - q16| * max|row|`; every row within twice that of the
approximate k-th best is a candidate, so the result is exactly the float32 scan's
(bench/bench_search.py and tests/search pin it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import simsimd

from clipsearch.cache.video_vectors import Shelf, VideoVectors
from clipsearch.vectors import Vector

T = TypeVar("T")

# Slack on top of the rounding bound: the float32 rerank and the kernel's own summation order.
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
    approx, margin = approximate_scores(shelf, query)
    eligible = np.ones(len(approx), dtype=bool)
    if options.min_score is not None:
        eligible &= approx >= options.min_score - margin
    if options.allow is not None:
        for index, video in enumerate(videos):
            mask = options.allow(video)
            if mask is not None:
                eligible[starts[index] : starts[index] + len(video.frame_ids)] &= mask
    candidates = np.flatnonzero(eligible)  # ascending, as exact_scores takes them
    wanted = options.top_k * (8 if options.dedupe else 1)
    while True:
        if len(candidates) > wanted:
            among = approx if len(candidates) == len(approx) else approx[candidates]
            kth = np.partition(among, len(among) - wanted)[len(among) - wanted]
            pool = candidates[among >= kth - 2 * margin]
        else:
            pool = candidates
        everything = len(pool) == len(candidates)
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


def approximate_scores(shelf: Shelf, query: Vector) -> tuple[npt.NDArray[np.float32], float]:
    """Every row's dot product with the query rounded to float16 (one SimSIMD call per video, on its
    own matrix), and the most any of them can differ from the exact float32 score, plus slack."""
    scores = np.empty(shelf.rows, dtype=np.float32)
    rounded = query.astype(np.float16)
    for video, start in zip(shelf.videos, shelf.starts, strict=True):
        if len(video.frame_ids):
            found = simsimd.cdist(rounded[None, :], video.vectors, metric="dot", out_dtype="float32")
            scores[start : start + len(video.frame_ids)] = np.asarray(found)[0]
    error = float(np.linalg.norm(query.astype(np.float64) - rounded.astype(np.float64)))
    return scores, error * shelf.max_norm + SCORE_SLACK


def exact_scores(shelf: Shelf, rows: npt.NDArray[np.intp], query: Vector) -> Vector:
    """The float32 scan's scores of these rows, ascending (float16 upcasts exactly to float32)."""
    scores = np.empty(len(rows), dtype=np.float32)
    owners = np.searchsorted(shelf.starts, rows, side="right") - 1
    for run in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(owners)) + 1):  # one per video
        if len(run):
            owner = int(owners[run[0]])
            local = rows[run] - shelf.starts[owner]
            scores[run] = shelf.videos[owner].vectors[local].astype(np.float32) @ query
    return scores


def _collapse_neighbours(hits: list[Hit]) -> list[Hit]:
    return collapse_neighbours(
        hits,
        lambda hit: (
            hit.video.video_id,
            int(hit.video.frame_indices[hit.row]),
            hit.video.vectors[hit.row].astype(np.float32),
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
