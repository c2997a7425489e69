"""Each video's vectors, loaded from S3 once and kept in memory across warm invocations.

A video loads from its packed object (one GET) or, when only per-frame `.npy` files exist, from
those. Entries are float16, as cached (1 KB per 512-d vector; clipsearch.index.ranking scans float16
without upcasting, each video's matrix in place), bounded by a total vector count and evicted least
recently used. An entry is the only holder of its matrix: a reloaded video's old matrix is freed as
its new one replaces it, so a warm repack never holds two copies of the vectors.
An entry older than `revalidate_seconds` is checked against S3 (a conditional GET on the packed
object's ETag, or a listing for per-frame files) and reloaded only if it changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.cache.store import CacheStore
from clipsearch.cache.video_vectors import VideoVectors, frame_indices
from clipsearch.runtime.faults import describe


@dataclass(frozen=True)
class VideoLoad:
    """One video as this search sees it: `vectors` to rank (None: nothing usable), and `problem`
    when S3 holds something damaged or could not be read (the vectors are then the last good ones,
    if any)."""

    vectors: VideoVectors | None
    problem: str | None = None
    damaged: bool = False  # the problem is the cache's content: batch rebuilds it


@dataclass(frozen=True)
class CacheRead:
    """Videos of one search: each one's load; those not loaded because this search alone would pass
    the memory bound; how many were answered from memory (`hits`: held and fresh, or unchanged in
    S3) and how many were read from S3 (`misses`)."""

    loads: dict[str, VideoLoad]
    over_bound: list[str]
    hits: int
    misses: int


@dataclass
class _Entry:
    load: VideoLoad
    checked_at: float


class VectorCache:
    def __init__(
        self,
        store: CacheStore,
        *,
        max_vectors: int,
        revalidate_seconds: float,
        concurrency: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_vectors = max_vectors
        self.revalidate_seconds = revalidate_seconds
        self.concurrency = concurrency
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    @property
    def held_vectors(self) -> int:
        return sum(len(e.load.vectors.frame_ids) for e in self._entries.values() if e.load.vectors)

    def get_many(self, video_ids: list[str]) -> CacheRead:
        """S3 is asked only for entries older than `revalidate_seconds`."""
        now = self.clock()
        stale = [
            video_id
            for video_id in video_ids
            if video_id not in self._entries
            or now - self._entries[video_id].checked_at >= self.revalidate_seconds
        ]
        keep = set(video_ids)
        found: dict[str, VideoLoad] = {}
        over_bound: list[str] = []
        reads = 0
        step = max(1, self.concurrency)
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(stale)))) as pool:
            for start in range(0, len(stale), step):
                chunk = stale[start : start + step]
                for video_id, (load, read) in zip(chunk, pool.map(self._refresh, chunk), strict=True):
                    found[video_id] = load
                    reads += read
                    if load.problem and not load.damaged:  # S3 failed: ask again on the next search
                        if video_id in self._entries:
                            self._entries[video_id].load = load
                    else:
                        self._entries[video_id] = _Entry(load, now)
                self._evict(keep)
                while self._used_by(keep) > self.max_vectors and chunk:  # memory stays bounded
                    dropped = chunk.pop()
                    self._entries.pop(dropped, None)
                    found.pop(dropped, None)
                    over_bound.insert(0, dropped)
                if over_bound:
                    over_bound += stale[start + step :]
                    break
        for video_id in video_ids:
            if video_id in self._entries:
                self._entries.move_to_end(video_id)
                found.setdefault(video_id, self._entries[video_id].load)
        failed = sum(1 for load in found.values() if load.problem and not load.damaged)
        return CacheRead(found, over_bound, hits=len(found) - reads - failed, misses=reads)

    def _used_by(self, keep: set[str]) -> int:
        return sum(
            len(entry.load.vectors.frame_ids)
            for video_id, entry in self._entries.items()
            if video_id in keep and entry.load.vectors
        )

    def _evict(self, keep: set[str]) -> None:
        """Least recently used first, never what this search is using."""
        total = self.held_vectors
        for video_id in list(self._entries):
            if total <= self.max_vectors:
                return
            if video_id in keep:
                continue
            entry = self._entries.pop(video_id)
            total -= len(entry.load.vectors.frame_ids) if entry.load.vectors else 0

    def _refresh(self, video_id: str) -> tuple[VideoLoad, bool]:
        """The video's load, and whether its vectors were read from S3 (not held, not unchanged)."""
        entry = self._entries.get(video_id)
        current = entry.load.vectors if entry else None
        try:
            load = self._read(video_id, current)
        except (ClientError, BotoCoreError) as error:  # after botocore's own retries
            age = f"; serving vectors checked {self.clock() - entry.checked_at:.0f} s ago" if entry else ""
            return VideoLoad(current, f"S3 read failed ({describe(error)}){age}"), False
        except Exception as error:  # read, but not decodable (a frame number past 64 bits, say):
            # one video's bad data is never the whole search's; batch rebuilds it
            problem = f"its cached vectors could not be decoded ({describe(error)})"
            return VideoLoad(current, problem, damaged=True), False
        return load, load.vectors is not None and load.vectors is not current

    def _read(self, video_id: str, current: VideoVectors | None) -> VideoLoad:
        unless = current.version if current and current.source == "packed" else None
        read = self.store.read_packed(video_id, unless_etag=unless)
        if read.status == "unchanged":
            return VideoLoad(current)
        if read.packed is not None and read.etag is not None:
            return VideoLoad(VideoVectors.from_packed(read.packed, read.etag))
        frames = self._read_frames(video_id, current)  # missing or damaged: the per-frame files
        if read.status == "damaged":
            return VideoLoad(frames, f"damaged packed object: {read.problem}", damaged=True)
        return VideoLoad(frames)

    def _read_frames(self, video_id: str, current: VideoVectors | None) -> VideoVectors | None:
        listing = self.store.list_frames(video_id)
        if not listing:
            return None
        version = "frames:" + hashlib.sha256(json.dumps(sorted(listing.values())).encode()).hexdigest()
        if current and current.version == version:
            return current
        keys = [key for key, _ in sorted(listing.values())]
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(keys)))) as pool:
            frames = [frame for frame in pool.map(self.store.read_frame, keys) if frame]
        if not frames:
            return None
        # Files of several models (a model change mid-way): use the most common; batch repacks the rest.
        kinds = Counter((frame.model or "unknown", frame.vector.shape[0]) for frame in frames)
        (model, dim), _ = kinds.most_common(1)[0]
        frames = [
            frame for frame in frames if (frame.model or "unknown", frame.vector.shape[0]) == (model, dim)
        ]
        frame_ids = [frame.frame_id for frame in frames]
        return VideoVectors(
            video_id=video_id,
            model=model,
            dim=dim,
            frame_ids=frame_ids,
            frame_keys=[frame.frame_key for frame in frames],
            frame_indices=frame_indices(frame_ids),
            vectors=np.stack([frame.vector for frame in frames]).astype(np.float16),
            source="frames",
            version=version,
            covered_frames=len(frame_ids),
        )
