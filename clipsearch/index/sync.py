"""Batch's side of the S3 Vectors backend: bring the index in line with a video's packed object.

The packed object stays the batch's record of what is embedded (it is what runs merge into); the
index gets every vector of it, then loses the vectors of frames the packed object no longer
holds, unless they are still listed in frames/ as they were indexed (same ETag, model and timing,
not rejected now: a packed object rebuilt in part after the cache expired, by a run that embedded
some frames only, does not shrink the index), then the ledger says what the index now holds. A run
stopped between those steps leaves the old ledger, so the next run writes again (PutVectors
overwrites a key) and deletes again. The ledger is written only if it is still the one read: a run
that lost that race syncs again from the packed object as it is now, and deletes what it wrote
itself that the packed object lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.catalog.frames import FrameListing
from clipsearch.catalog.videos import VideoCatalog, VideoInfo
from clipsearch.index.backend import NOTHING_SEEN
from clipsearch.index.vector_index import IndexedFrame, Ledger, LedgerChanged, Ledgers, VectorIndex
from clipsearch.layout import Frame, frame_index

SYNC_ATTEMPTS = 5  # ledger writes lost to other runs before this run gives up (and is retried)


class IndexSync:
    def __init__(
        self,
        index: VectorIndex,
        ledgers: Ledgers,
        catalog: VideoCatalog,
        cache: CacheStore,
        frames: FrameListing,
    ) -> None:
        self.index = index
        self.ledgers = ledgers
        self.catalog = catalog
        self.cache = cache
        self.frames = frames  # the sweep asks whether frames/ changed since a run saw it

    def holding_all(
        self, video_id: str, model: str, frames: dict[str, Frame], etags: dict[str, str]
    ) -> Ledger | None:
        """The ledger, when the index already accounts for exactly these frames with this model and
        the catalog's timing (its rejected frames unchanged since: same ETag): a video whose packed
        object expired (the cache's 7-day rule) is then not embedded again. None otherwise."""
        ledger = self.ledgers.read(video_id).ledger
        if ledger is None or ledger.model != model or ledger.timing != _timing(self._info(video_id)):
            return None
        rejected_keys = {r.key for r in ledger.rejected}
        rejected = {frame.frame_id for frame in frames.values() if frame.key in rejected_keys}
        if {*ledger.frame_ids, *rejected} != set(frames):
            return None
        if any(
            etags.get(frame.key) != ledger.frame_etags[frame.frame_id]
            for frame in frames.values()
            if frame.frame_id not in rejected
        ):
            return None  # a frame was replaced under its name: embed it again
        if any(etags.get(r.key) != r.etag for r in ledger.rejected if r.key in etags):
            return None  # a rejected frame was replaced: try it again
        return ledger

    def wants(self, video: VideoInfo) -> str | None:
        """The sweep's question: does batch need to run for this processed video? (no ledger, fewer
        or other frames than `frames_count`, or other timing than the catalog's now) The version of
        the ledger seen when it does (NOTHING_SEEN: none), None when not."""
        read = self.ledgers.read(video.video_id)
        ledger = read.ledger
        if ledger is None or read.etag is None:
            return NOTHING_SEEN
        if ledger.timing != _timing(video):
            return read.etag
        if video.frames_count is None or ledger.covered_frames == video.frames_count:
            return None
        if ledger.unmet_count == video.frames_count and ledger.listing == self.frames.fingerprint(
            video.video_id
        ):
            return None  # a run found frames/ cannot meet that count, and frames/ is as it saw it
        return read.etag

    def record_unmet(self, video_id: str, listing: str, unmet_count: int | None) -> bool:
        """Write into the ledger what a run that embedded nothing found (the listing it saw, the
        count it cannot meet, if any); True when that is news (for the report). Another run that
        wrote the ledger meanwhile wins: its record stands."""
        read = self.ledgers.read(video_id)
        ledger = read.ledger
        if ledger is None or (ledger.listing, ledger.unmet_count) == (listing, unmet_count):
            return False
        try:
            self.ledgers.write(replace(ledger, listing=listing, unmet_count=unmet_count), replacing=read.etag)
        except LedgerChanged:
            return False
        return unmet_count is not None

    def sync(
        self,
        packed: PackedVideo,
        etag: str,
        frame_etags: Mapping[str, str],
        listed: Mapping[str, Frame] | None = None,
    ) -> int:
        """Write the packed object's vectors unless the ledger says the index has exactly them; the
        number of vectors written (`frame_etags`: key -> ETag of the objects listed now; `listed`:
        frame_id -> the frames listed now, whose indexed vectors stay while unchanged).
        DamagedLedger when the ledger cannot be read."""
        video_id = packed.video_id
        timing = _timing(self._info(video_id))
        written: set[str] = set()  # by this run, through attempts that lost the ledger race
        for _ in range(SYNC_ATTEMPTS):
            read = self.ledgers.read(video_id)
            ledger = read.ledger
            if ledger and (ledger.source_etag, ledger.model, ledger.timing) == (etag, packed.model, timing):
                self.index.delete(video_id, sorted(written - set(packed.frame_ids)))
                return 0
            frames = self._frames(packed, timing)
            self.index.put(video_id, packed.model, frames)
            written |= set(packed.frame_ids)
            held = set(ledger.frame_ids) if ledger else set()
            packed_ids = set(packed.frame_ids)
            rejected = {r.key for r in packed.rejected}
            kept = (
                {
                    frame_id: frame_etag
                    for frame_id, frame_etag in ledger.frame_etags.items()
                    if frame_id not in packed_ids
                    and frame_id in listed
                    and listed[frame_id].key not in rejected
                    and frame_etags.get(listed[frame_id].key) == frame_etag
                }
                if ledger and listed and (ledger.model, ledger.timing) == (packed.model, timing)
                else {}
            )
            self.index.delete(video_id, sorted((held | written) - packed_ids - set(kept)))
            try:
                indexed = kept | {
                    frame_id: frame_etags.get(key, "")
                    for frame_id, key in zip(packed.frame_ids, packed.frame_keys, strict=True)
                }
                self.ledgers.write(
                    Ledger(
                        video_id,
                        packed.model,
                        etag,
                        timing,
                        indexed,
                        packed.rejected,
                        packed.listing,
                        packed.unmet_count,
                    ),
                    replacing=read.etag,
                )
            except LedgerChanged:  # another run synced meanwhile: sync the packed object as it is now
                current = self.cache.read_packed(video_id)
                if current.packed is None or current.etag is None:
                    raise RuntimeError(
                        f"the packed object of {video_id} is {current.status} after a ledger race"
                    ) from None
                packed, etag = current.packed, current.etag
                continue
            return len(frames)
        raise RuntimeError(f"the index ledger of {video_id} kept changing under {SYNC_ATTEMPTS} attempts")

    def remove(self, video_id: str) -> int:
        """Delete every vector of a video, then its ledger; the number of vectors deleted.
        DamagedLedger (nothing deleted, the ledger kept) when its ledger cannot be read."""
        ledger = self.ledgers.read(video_id).ledger
        frame_ids = ledger.frame_ids if ledger else ()
        self.index.delete(video_id, frame_ids)
        self.ledgers.delete(video_id)
        return len(frame_ids)

    def video_ids(self) -> set[str]:
        """The videos the index holds (those with a ledger)."""
        return self.ledgers.video_ids()

    def _frames(self, packed: PackedVideo, timing: tuple[float, int] | None) -> list[IndexedFrame]:
        indices = np.array([frame_index(frame_id) for frame_id in packed.frame_ids], dtype=np.int64)
        seconds = (
            VideoInfo(packed.video_id, "", video_fps=timing[0], frame_step=timing[1]).frame_seconds(indices)
            if timing
            else np.full(len(indices), np.nan)
        )
        return [
            IndexedFrame(
                frame_id=frame_id,
                frame_key=frame_key,
                frame_index=int(index),
                time_s=None if np.isnan(second) else float(second),  # exact: range ends as in memory
                vector=row.astype(np.float32),
            )
            for frame_id, frame_key, index, second, row in zip(
                packed.frame_ids, packed.frame_keys, indices, seconds, packed.vectors, strict=True
            )
        ]

    def _info(self, video_id: str) -> VideoInfo | None:
        found, _ = self.catalog.lookup([video_id])
        return found[0] if found else None


def _timing(info: VideoInfo | None) -> tuple[float, int] | None:
    if info is None or not info.video_fps or not info.frame_step:
        return None
    return (info.video_fps, info.frame_step)
