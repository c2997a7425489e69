"""Exact top-k over videos' vectors (numpy only): filters, deterministic ties, near-duplicate collapse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clipsearch.vectors import Vector
from clipsearch.video_vectors import Shelf, VideoVectors

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

    Ties break by video order (as stacked) then row, so equal scores always come back in one order.
    """
    videos, starts = shelf.videos, shelf.starts
    if not videos:
        return []
    scores = shelf.matrix @ query
    eligible = np.ones(len(scores), dtype=bool)
    if options.min_score is not None:
        eligible &= scores >= options.min_score
    if options.allow is not None:
        for index, video in enumerate(videos):
            mask = options.allow(video)
            if mask is not None:
                eligible[starts[index] : starts[index] + len(video.frame_ids)] &= mask
    candidates = np.flatnonzero(eligible)
    wanted = options.top_k * (8 if options.dedupe else 1)
    while True:
        if len(candidates) > wanted:
            top = candidates[np.argpartition(-scores[candidates], wanted - 1)[:wanted]]
        else:
            top = candidates
        # Best first; equal scores by global position (video order, then row).
        ordered = top[np.lexsort((top, -scores[top]))]
        owners = np.searchsorted(starts, ordered, side="right") - 1
        hits = [
            Hit(videos[owner], int(row - starts[owner]), float(scores[row]))
            for row, owner in zip(ordered, owners, strict=True)
        ]
        if options.dedupe:
            hits = _collapse_neighbours(hits)
        if len(hits) >= options.top_k or len(top) == len(candidates):
            return hits[: options.top_k]
        wanted *= 4  # too many collapsed: look deeper


def _collapse_neighbours(hits: list[Hit]) -> list[Hit]:
    kept: list[Hit] = []
    for hit in hits:
        index = hit.video.frame_indices[hit.row]
        vector = hit.video.vectors[hit.row]
        duplicate = any(
            other.video is hit.video
            and index >= 0
            and abs(int(other.video.frame_indices[other.row]) - int(index)) <= DEDUPE_WINDOW
            and float(other.video.vectors[other.row] @ vector) >= DEDUPE_SIMILARITY
            for other in kept
        )
        if not duplicate:
            kept.append(hit)
    return kept
