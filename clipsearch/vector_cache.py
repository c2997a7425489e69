"""Each video's vectors, loaded from S3 once and kept in memory across warm invocations.

A video loads from its packed object (one GET) or, when only per-frame `.npy` files exist, from
those. Entries are float32 (the dtype the search multiplies in: upcasting on every query would cost
seconds at a million vectors), bounded by a total vector count and evicted least recently used.
An entry older than `revalidate_seconds` is checked against S3 (a conditional GET on the packed
object's ETag, or a listing for per-frame files) and reloaded only if it changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from botocore.exceptions import ClientError

from clipsearch.cache_store import PACKED_NAME, CacheStore, PackedVideo, packed_key
from clipsearch.layout import CACHE_PREFIX

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def frame_index(frame_id: str) -> int:
    """The number at the end of a frame id (`frame_000042` -> 42), -1 when there is none."""
    match = _TRAILING_NUMBER.search(frame_id)
    return int(match.group(1)) if match else -1


@dataclass(frozen=True)
class VideoVectors:
    video_id: str
    model: str
    dim: int
    frame_ids: list[str]
    frame_keys: list[str]
    frame_indices: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]  # (n, dim), rows L2-normalised
    source: str  # "packed" or "frames" (per-frame files only)
    version: str  # ETag of the packed object, or of the listing of per-frame files

    @classmethod
    def from_packed(cls, packed: PackedVideo, version: str) -> VideoVectors:
        return cls(
            video_id=packed.video_id,
            model=packed.model,
            dim=packed.dim,
            frame_ids=packed.frame_ids,
            frame_keys=packed.frame_keys,
            frame_indices=np.array([frame_index(f) for f in packed.frame_ids], dtype=np.int64),
            vectors=np.ascontiguousarray(packed.vectors, dtype=np.float32),
            source="packed",
            version=version,
        )


@dataclass(frozen=True)
class Shelf:
    """Videos' vectors stacked in one contiguous matrix: one matrix-vector product scores them all
    (twice as fast as one product per video at a million vectors). Each video's `vectors` is a view
    into `matrix`, so the stacked copy is the only copy."""

    videos: list[VideoVectors]
    matrix: npt.NDArray[np.float32]
    starts: npt.NDArray[np.int64]  # row of each video's first frame

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple((video.video_id, video.version) for video in self.videos)

    @classmethod
    def stack(cls, videos: Sequence[VideoVectors]) -> Shelf:
        sizes = [len(video.frame_ids) for video in videos]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        dim = videos[0].dim if videos else 0
        matrix = np.empty((int(starts[-1]), dim), dtype=np.float32)
        stacked = []
        for video, start, end in zip(videos, starts[:-1], starts[1:], strict=True):
            matrix[start:end] = video.vectors
            stacked.append(replace(video, vectors=matrix[start:end]))
        return cls(stacked, matrix, starts[:-1])


@dataclass
class _Entry:
    vectors: VideoVectors | None  # None: nothing cached in S3 for this video
    checked_at: float


class VectorCache:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        max_vectors: int,
        revalidate_seconds: float,
        concurrency: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.store = CacheStore(s3, bucket)
        self.max_vectors = max_vectors
        self.revalidate_seconds = revalidate_seconds
        self.concurrency = concurrency
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._shelf = Shelf.stack([])

    def shelf(self, videos: list[VideoVectors]) -> Shelf:
        """These videos stacked for ranking; the kept shelf is rebuilt only when the set or a version
        changes. A subset of it (a `video_ids` search) gets a small throwaway copy instead, so that
        alternating filtered and full searches never re-stack everything."""
        key = tuple((video.video_id, video.version) for video in videos)
        if key == self._shelf.key:
            return self._shelf
        if set(key) <= set(self._shelf.key):
            return Shelf.stack(videos)
        self._shelf = Shelf.stack(videos)
        for stacked in self._shelf.videos:  # keep only the stacked copy of each matrix
            if stacked.video_id in self._entries:
                self._entries[stacked.video_id].vectors = stacked
        return self._shelf

    def get_many(self, video_ids: list[str]) -> dict[str, VideoVectors | None]:
        """Vectors of each video (None when S3 has none for it); S3 is asked only for stale entries."""
        now = self.clock()
        stale = [
            video_id
            for video_id in video_ids
            if video_id not in self._entries
            or now - self._entries[video_id].checked_at >= self.revalidate_seconds
        ]
        if stale:
            with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(stale)))) as pool:
                fresh = list(pool.map(self._refresh, stale))
            for video_id, vectors in zip(stale, fresh, strict=True):
                self._entries[video_id] = _Entry(vectors, now)
        found = {}
        for video_id in video_ids:
            self._entries.move_to_end(video_id)
            found[video_id] = self._entries[video_id].vectors
        self._evict(keep=set(video_ids))
        return found

    def _evict(self, keep: set[str]) -> None:
        total = sum(len(e.vectors.frame_ids) for e in self._entries.values() if e.vectors)
        for video_id in list(self._entries):
            if total <= self.max_vectors:
                return
            if video_id in keep:  # never drop what this search is using
                continue
            entry = self._entries.pop(video_id)
            total -= len(entry.vectors.frame_ids) if entry.vectors else 0

    def _refresh(self, video_id: str) -> VideoVectors | None:
        entry = self._entries.get(video_id)
        current = entry.vectors if entry else None
        packed = self._read_packed(video_id, current)
        if packed is not None:
            return packed
        return self._read_frames(video_id, current)

    def _read_packed(self, video_id: str, current: VideoVectors | None) -> VideoVectors | None:
        arguments = {"Bucket": self.bucket, "Key": packed_key(video_id)}
        if current and current.source == "packed":
            arguments["IfNoneMatch"] = current.version
        try:
            stored = self.s3.get_object(**arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("304", "NotModified"):
                return current
            if code in ("NoSuchKey", "404"):
                return None
            raise
        try:
            return VideoVectors.from_packed(PackedVideo.from_bytes(stored["Body"].read()), stored["ETag"])
        except (ValueError, KeyError, OSError):
            return None  # unreadable: fall back to the per-frame files; batch rewrites it

    def _read_frames(self, video_id: str, current: VideoVectors | None) -> VideoVectors | None:
        prefix = f"{CACHE_PREFIX}{video_id}/"
        listing: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                name = entry["Key"].removeprefix(prefix)
                if name.endswith(".npy") and "/" not in name and name != PACKED_NAME:
                    listing[entry["Key"]] = entry["ETag"]
        if not listing:
            return None
        version = "frames:" + hashlib.sha256(json.dumps(sorted(listing.items())).encode()).hexdigest()
        if current and current.version == version:
            return current
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(listing)))) as pool:
            frames = [frame for frame in pool.map(self.store.read_frame, sorted(listing)) if frame]
        if not frames:
            return None
        # Files of several models (a model change mid-way): use the most common; batch repacks the rest.
        kinds = Counter((frame.model or "unknown", frame.vector.shape[0]) for frame in frames)
        (model, dim), _ = kinds.most_common(1)[0]
        frames = [
            frame for frame in frames if (frame.model or "unknown", frame.vector.shape[0]) == (model, dim)
        ]
        return VideoVectors(
            video_id=video_id,
            model=model,
            dim=dim,
            frame_ids=[frame.frame_id for frame in frames],
            frame_keys=[frame.frame_key for frame in frames],
            frame_indices=np.array([frame_index(frame.frame_id) for frame in frames], dtype=np.int64),
            vectors=np.stack([frame.vector for frame in frames]).astype(np.float32),
            source="frames",
            version=version,
        )
