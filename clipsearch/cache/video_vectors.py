"""A video's vectors in memory, and the videos of one search lined up for ranking (a Shelf)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import simsimd

from clipsearch.cache.store import PackedVideo
from clipsearch.layout import frame_index


@dataclass(frozen=True)
class VideoVectors:
    video_id: str
    model: str
    dim: int
    frame_ids: list[str]
    frame_keys: list[str]
    frame_indices: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float16]  # (n, dim), rows L2-normalised, as cached (1 KB per 512-d row)
    source: str  # "packed" or "frames" (per-frame files only)
    version: str  # ETag of the packed object, or of the listing of per-frame files
    covered_frames: int  # frames accounted for: embedded, or rejected for good
    unmet_count: int | None = None  # a frames_count a run found frames/ cannot meet (PackedVideo's)

    @classmethod
    def from_packed(cls, packed: PackedVideo, version: str) -> VideoVectors:
        return cls(
            video_id=packed.video_id,
            model=packed.model,
            dim=packed.dim,
            frame_ids=packed.frame_ids,
            frame_keys=packed.frame_keys,
            frame_indices=frame_indices(packed.frame_ids),
            vectors=np.ascontiguousarray(packed.vectors, dtype=np.float16),
            source="packed",
            version=version,
            covered_frames=packed.covered_frames,
            unmet_count=packed.unmet_count,
        )

    @cached_property
    def max_norm(self) -> float:
        """The longest row's length: bounds the float16 scan's error (clipsearch.index.ranking)."""
        return _max_norm(self.vectors)


def frame_indices(frame_ids: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.array([frame_index(frame_id) for frame_id in frame_ids], dtype=np.int64)


@dataclass(frozen=True)
class Shelf:
    """The videos one search ranks, each scanned in place from its own float16 matrix: nothing is
    copied to rank them, so a search holds each vector once, and a warm container replacing its
    videos' vectors (a repack) frees each old matrix as its new one arrives. Rows are numbered
    across the videos in order: video i holds rows starts[i] to starts[i] + its frames."""

    videos: list[VideoVectors]
    starts: npt.NDArray[np.int64]  # row of each video's first frame
    rows: int
    max_norm: float  # the longest row's length of them all (clipsearch.index.ranking)

    @classmethod
    def of(cls, videos: Sequence[VideoVectors]) -> Shelf:
        sizes = [len(video.frame_ids) for video in videos]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        max_norm = max((video.max_norm for video in videos if len(video.frame_ids)), default=0.0)
        return cls(list(videos), starts[:-1], int(starts[-1]), max_norm)


def _max_norm(matrix: npt.NDArray[np.float16]) -> float:
    """The longest row's length, read in float16 (SimSIMD: numpy would upcast the whole matrix)."""
    if matrix.size == 0:
        return 0.0
    squares = np.asarray(simsimd.dot(matrix, matrix, out_dtype="float32"), dtype=np.float64)
    return float(np.sqrt(squares.max())) * (1 + 1e-3)  # the kernel's float32 sum: a little slack
