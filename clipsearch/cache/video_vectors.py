"""A video's vectors in memory, and many videos stacked into one matrix for ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

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
        )


def frame_indices(frame_ids: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.array([frame_index(frame_id) for frame_id in frame_ids], dtype=np.int64)


@dataclass(frozen=True)
class Shelf:
    """Videos' vectors stacked in one contiguous float16 matrix: one pass scores them all (twice as
    fast as one product per video at a million vectors). Each video's `vectors` is a view into
    `matrix`, so the stacked copy is the only copy."""

    videos: list[VideoVectors]
    matrix: npt.NDArray[np.float16]
    starts: npt.NDArray[np.int64]  # row of each video's first frame
    max_norm: float  # the longest row's length: bounds the float16 scan's error (clipsearch.index.ranking)

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return shelf_key(self.videos)

    @classmethod
    def stack(cls, videos: Sequence[VideoVectors]) -> Shelf:
        sizes = [len(video.frame_ids) for video in videos]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        dim = videos[0].dim if videos else 0
        matrix = np.empty((int(starts[-1]), dim), dtype=np.float16)
        stacked = []
        for video, start, end in zip(videos, starts[:-1], starts[1:], strict=True):
            matrix[start:end] = video.vectors
            stacked.append(replace(video, vectors=matrix[start:end]))
        return cls(stacked, matrix, starts[:-1], _max_norm(matrix))


def _max_norm(matrix: npt.NDArray[np.float16]) -> float:
    """The longest row's length, read in float16 (SimSIMD: numpy would upcast the whole matrix)."""
    if matrix.size == 0:
        return 0.0
    squares = np.asarray(simsimd.dot(matrix, matrix, out_dtype="float32"), dtype=np.float64)
    return float(np.sqrt(squares.max())) * (1 + 1e-3)  # the kernel's float32 sum: a little slack


def shelf_key(videos: Sequence[VideoVectors]) -> tuple[tuple[str, str], ...]:
    return tuple((video.video_id, video.version) for video in videos)
