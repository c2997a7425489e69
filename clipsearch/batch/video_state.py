"""What S3 holds for one video now: its frames (listed, sorted into frames, rejects and other
files), its packed object, and the vectors cached for a model. Batch reads it at the start of a run
and again when another run packed the video meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from clipsearch.cache.store import CacheStore, PackedRead, PackedVideo, RejectedFrame
from clipsearch.catalog.frames import FrameListing, fingerprint
from clipsearch.layout import IMAGE_EXTENSIONS, Frame, frames_prefix, parse_frame_key
from clipsearch.model.embedder import Embedder
from clipsearch.vectors import Vector


@dataclass(frozen=True)
class VideoState:
    """What S3 holds for one video now."""

    frames: dict[str, Frame]  # frame_id -> frame, every valid frame listed
    etags: dict[str, str]  # key -> ETag of every object listed under frames/{video_id}/
    listing_rejects: list[RejectedFrame]  # image files listed that can never be frames as they are
    ignored: list[str]  # files that are not frames (a manifest, anything in a sub-folder)
    packed: PackedRead
    cached: dict[str, tuple[str, Vector]]  # frame_id -> (frame key, vector) cached for this model
    from_frame_files: bool = False  # `cached` prefers the `.npy` files to the packed object's vectors
    # What split runs embedded, kept in their own objects (frame_cache=packed): `runs_ahead` go over
    # everything else in `cached` (this request's own run: a chunk's earlier deliveries, a forced
    # run's chunks), `runs_behind` only fill in what nothing else has (a run's chunks not forced,
    # runs not packed yet).
    runs_ahead: tuple[PackedVideo, ...] = ()
    runs_behind: tuple[PackedVideo, ...] = ()
    embedded_by_run: frozenset[str] = frozenset()  # the frame ids of runs_ahead (of this model)

    def recorded_rejects(self) -> dict[str, RejectedFrame]:
        """Frames the packed object records as rejected and that have not changed since."""
        rejected = self.packed.packed.rejected if self.packed.packed else ()
        return {r.key: r for r in rejected if self.etags.get(r.key) == r.etag}

    @property
    def listing(self) -> str:
        """The fingerprint of `frames/{video_id}/` as listed now."""
        return fingerprint(self.etags)


def _preferred_first(key: str) -> tuple[str, int]:
    """Listing order in which, of two files of one frame id, the pipeline's own format (WebP, then
    the other IMAGE_EXTENSIONS in order) is the frame and the other is rejected as a duplicate."""
    stem, _, extension = key.rpartition(".")
    rank = (
        IMAGE_EXTENSIONS.index(f".{extension.lower()}") if f".{extension.lower()}" in IMAGE_EXTENSIONS else 99
    )
    return stem, rank


class VideoStates:
    def __init__(self, listing: FrameListing, cache: CacheStore, *, concurrency: int) -> None:
        self.listing = listing
        self.cache = cache
        self.concurrency = concurrency

    def read(
        self,
        video_id: str,
        embedder: Embedder,
        *,
        from_frame_files: bool = False,
        runs_ahead: tuple[PackedVideo, ...] = (),
        runs_behind: tuple[PackedVideo, ...] = (),
        runs_not_packed: bool = False,
    ) -> VideoState:
        """List `frames/{video_id}/`, read the packed object and the `.npy` files it lacks
        (`from_frame_files`: every `.npy` file, over the packed object's vectors: the pack of a
        forced split whose chunks wrote them); `runs_ahead` go over all of those, `runs_behind`
        under, with (`runs_not_packed`) the run objects written since the packed object."""
        prefix = frames_prefix(video_id)
        etags = self.listing.etags(video_id)
        frames: dict[str, Frame] = {}
        rejects, ignored = [], []
        for key in sorted(etags, key=_preferred_first):
            name = key.removeprefix(prefix)
            if "/" in name or not name.lower().endswith(IMAGE_EXTENSIONS):
                ignored.append(key)  # not one of the extractor's frames: reported, never embedded
                continue
            try:
                frame = parse_frame_key(key)
            except ValueError as error:
                rejects.append(RejectedFrame(key, etags[key], str(error)))
                continue
            if frame.frame_id in frames:
                duplicate = f"frame id {frame.frame_id!r} also names {frames[frame.frame_id].key}"
                rejects.append(RejectedFrame(key, etags[key], duplicate))
                continue
            frames[frame.frame_id] = frame
        packed = self.cache.read_packed(video_id)
        if runs_not_packed:
            since = packed.last_modified if packed.packed else None
            runs_behind += tuple(self.cache.unpacked_run_vectors(video_id, since=since))
        cached: dict[str, tuple[str, Vector]] = {}
        for vectors in runs_behind:
            cached.update(_vectors_of(vectors, embedder))
        cached.update(self._cached(video_id, embedder, None if from_frame_files else packed))
        ahead: dict[str, tuple[str, Vector]] = {}
        for vectors in runs_ahead:
            ahead.update(_vectors_of(vectors, embedder))
        cached.update(ahead)
        return VideoState(
            frames,
            etags,
            rejects,
            ignored,
            packed,
            cached,
            from_frame_files,
            runs_ahead,
            runs_behind,
            frozenset(ahead),
        )

    def _cached(
        self, video_id: str, embedder: Embedder, packed: PackedRead | None
    ) -> dict[str, tuple[str, Vector]]:
        """frame_id -> (frame key, vector) cached for this model: the packed object (if given), then
        `.npy` files."""
        vectors = _vectors_of(packed.packed, embedder) if packed and packed.packed else {}
        loose = [
            key for frame_id, (key, _) in self.cache.list_frames(video_id).items() if frame_id not in vectors
        ]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for cached in pool.map(self.cache.read_frame, loose):
                if cached and cached.model == embedder.model_id and cached.vector.shape == (embedder.dim,):
                    vectors[cached.frame_id] = (cached.frame_key, cached.vector)
        return vectors


def _vectors_of(packed: PackedVideo, embedder: Embedder) -> dict[str, tuple[str, Vector]]:
    """frame_id -> (frame key, vector) of a packed object, when it is of this model."""
    if packed.model != embedder.model_id or packed.dim != embedder.dim:
        return {}
    rows = zip(packed.frame_keys, packed.vectors.astype(np.float32), strict=True)
    return dict(zip(packed.frame_ids, rows, strict=True))
