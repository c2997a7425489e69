"""Batch's side of the S3 Vectors backend: bring the index in line with a video's packed object.

The packed object stays the batch's record of what is embedded (it is what runs merge into); the
index gets every vector of it, then loses the vectors of frames the packed object no longer
holds, then the ledger says what the index now holds. A run stopped between those steps leaves
the old ledger, so the next run writes again (PutVectors overwrites a key) and deletes again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clipsearch.cache_store import PackedVideo
from clipsearch.layout import frame_index, parse_frame_key
from clipsearch.vector_index import IndexedFrame, Ledger, Ledgers, VectorIndex
from clipsearch.video_catalog import VideoCatalog, VideoInfo


@dataclass(frozen=True)
class Synced:
    written: int  # vectors put into the index
    deleted: int  # vectors of frames that left frames/


class IndexSync:
    def __init__(self, index: VectorIndex, ledgers: Ledgers, catalog: VideoCatalog) -> None:
        self.index = index
        self.ledgers = ledgers
        self.catalog = catalog

    def holds_all(self, video_id: str, model: str, frame_ids: set[str]) -> bool:
        """True when the index already accounts for exactly these frames with this model: a video
        whose packed object expired (the cache's 7-day rule) is not embedded again for the index."""
        ledger = self.ledgers.read(video_id)
        return (
            ledger is not None
            and ledger.model == model
            and ledger.timing == _timing(self._info(video_id))
            and {*ledger.frame_ids, *ledger.rejected} == frame_ids
        )

    def covered_frames(self, video_id: str) -> int | None:
        """Frames the index accounts for (the sweep compares it with `frames_count`); None: none."""
        ledger = self.ledgers.read(video_id)
        return ledger.covered_frames if ledger else None

    def sync(self, packed: PackedVideo, etag: str) -> Synced:
        """Write the packed object's vectors (unless the ledger says the index has exactly them)."""
        video_id = packed.video_id
        info = self._info(video_id)
        timing = _timing(info)
        ledger = self.ledgers.read(video_id)
        if ledger and (ledger.source_etag, ledger.model, ledger.timing) == (etag, packed.model, timing):
            return Synced(0, 0)
        indices = np.array([frame_index(frame_id) for frame_id in packed.frame_ids], dtype=np.int64)
        seconds = info.frame_seconds(indices) if info else np.full(len(indices), np.nan)
        frames = [
            IndexedFrame(
                frame_id=frame_id,
                frame_key=frame_key,
                frame_index=int(index),
                time_s=None if np.isnan(second) else round(float(second), 3),
                vector=row.astype(np.float32),
            )
            for frame_id, frame_key, index, second, row in zip(
                packed.frame_ids, packed.frame_keys, indices, seconds, packed.vectors, strict=True
            )
        ]
        self.index.put(video_id, packed.model, frames)
        gone = sorted(set(ledger.frame_ids) - set(packed.frame_ids)) if ledger else []
        self.index.delete(video_id, gone)
        self.ledgers.write(
            Ledger(
                video_id=video_id,
                model=packed.model,
                source_etag=etag,
                timing=timing,
                frame_ids=tuple(packed.frame_ids),
                rejected=tuple(parse_frame_key(r.key).frame_id for r in packed.rejected if _is_frame(r.key)),
            )
        )
        return Synced(len(frames), len(gone))

    def remove(self, video_id: str) -> int:
        """Delete every vector of a video, then its ledger; the number of vectors deleted."""
        ledger = self.ledgers.read(video_id)
        frame_ids = ledger.frame_ids if ledger else ()
        self.index.delete(video_id, frame_ids)
        self.ledgers.delete(video_id)
        return len(frame_ids)

    def _info(self, video_id: str) -> VideoInfo | None:
        found, _ = self.catalog.lookup([video_id])
        return found[0] if found else None


def _timing(info: VideoInfo | None) -> tuple[float, int] | None:
    if info is None or not info.video_fps or not info.frame_step:
        return None
    return (info.video_fps, info.frame_step)


def _is_frame(key: str) -> bool:
    try:
        parse_frame_key(key)
    except ValueError:
        return False
    return True
