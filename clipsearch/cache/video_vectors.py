"""A video's vectors in memory, and the videos of one search lined up for ranking (a Shelf)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import overload

import numpy as np
import numpy.typing as npt

from clipsearch.cache.codes import Codes
from clipsearch.cache.store import PackedVideo
from clipsearch.layout import extracted_frame_id, extracted_frame_key, frame_index


@dataclass(frozen=True)
class VideoVectors:
    video_id: str
    model: str
    dim: int
    frame_ids: Sequence[str]  # `compact` when the extractor named them
    frame_keys: Sequence[str]
    frame_indices: npt.NDArray[np.int64]
    codes: Codes  # the rows, L2-normalised, exactly as cached (float16), as int8 codes to scan
    source: str  # "packed" or "frames" (per-frame files only)
    version: str  # ETag of the packed object, or of the listing of per-frame files
    covered_frames: int  # frames accounted for: embedded, or rejected for good
    unmet_count: int | None = None  # a frames_count a run found frames/ cannot meet (PackedVideo's)

    @classmethod
    def from_packed(cls, packed: PackedVideo, version: str) -> VideoVectors:
        indices = frame_indices(packed.frame_ids)
        return cls(
            video_id=packed.video_id,
            model=packed.model,
            dim=packed.dim,
            frame_ids=compact(packed.frame_ids, indices, extracted_frame_id),
            frame_keys=compact(packed.frame_keys, indices, partial(extracted_frame_key, packed.video_id)),
            frame_indices=indices,
            codes=Codes.of(packed.vectors),
            source="packed",
            version=version,
            covered_frames=packed.covered_frames,
            unmet_count=packed.unmet_count,
        )


def frame_indices(frame_ids: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.array([frame_index(frame_id) for frame_id in frame_ids], dtype=np.int64)


def compact(names: list[str], indices: npt.NDArray[np.int64], name: Callable[[int], str]) -> Sequence[str]:
    """`names`, or when each is `name(its frame's index)` (the extractor's), names made when asked:
    a list holds about 80 bytes per frame id and 100 per key, 8% of a vector held; these nothing
    more than the indices, held anyway."""
    if len(names) and names == [name(index) for index in indices.tolist()]:
        return NamesOfIndices(indices, name)
    return names


class NamesOfIndices(Sequence[str]):
    def __init__(self, indices: npt.NDArray[np.int64], name: Callable[[int], str]) -> None:
        self.indices = indices
        self.name = name

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, row: int) -> str: ...

    @overload
    def __getitem__(self, row: slice) -> Sequence[str]: ...

    def __getitem__(self, row: int | slice) -> str | Sequence[str]:
        if isinstance(row, slice):
            return [self.name(index) for index in self.indices[row].tolist()]
        return self.name(int(self.indices[row]))


@dataclass(frozen=True)
class Shelf:
    """The videos one search ranks, each scanned in place from its own codes: nothing is copied to
    rank them, so a search holds each vector once, and a warm container replacing its videos'
    vectors (a repack) frees each old video's codes as its new ones arrive. Rows are numbered
    across the videos in order: video i holds rows starts[i] to starts[i] + its frames."""

    videos: list[VideoVectors]
    starts: npt.NDArray[np.int64]  # row of each video's first frame
    rows: int

    @classmethod
    def of(cls, videos: Sequence[VideoVectors]) -> Shelf:
        sizes = [len(video.frame_ids) for video in videos]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return cls(list(videos), starts[:-1], int(starts[-1]))
