"""The embeddings cache in S3: one `.npy` per frame, one packed `.npz` per video (formats and I/O).

Per frame: `embeddings-cache/{video_id}/{frame_id}.npy`, float16, shape (dim,), L2-normalised, with
S3 metadata `model`, `dim` and `frame-key`. Per video: `embeddings-cache/{video_id}/packed.npz`
(see PackedVideo), so a search reads a whole video with one GET. Both load with `allow_pickle=False`
and are validated on read, here and nowhere else: a damaged object reads as damaged, never as data.
Per chunk of a split run, once it is done: `embeddings-cache/{video_id}/runs/{run}/{first}.json`
(see ChunkDone), which the run's last chunk counts and the pack reads; with `frame_cache=packed`
(no per-frame files) also `.../runs/{run}/{first}.npz`, the chunk's vectors in the packed format,
which the chunk rewrites as it goes and the pack merges.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from botocore.exceptions import ClientError

from clipsearch.layout import (
    CACHE_PREFIX,
    CHUNK_DONE_SUFFIX,
    CHUNK_VECTORS_SUFFIX,
    FRAMES_PREFIX,
    Frame,
    cache_prefix,
    cached_frame_id,
    chunk_done_key,
    chunk_vectors_key,
    packed_key,
    run_prefix,
    runs_prefix,
)
from clipsearch.runtime.faults import CONDITION_FAILED, error_code, is_not_found
from clipsearch.vectors import Vector, to_npy_f16
from clipsearch.whole_numbers import whole_number

FORMAT_VERSION = 3  # 2 added the rejected frames, 3 the listing and the unmet count; 1 and 2 still read
_UNIT_NORM = (0.98, 1.02)  # float16 storage keeps a unit vector's norm within about 1e-3


class DamagedCache(ValueError):
    """A cache object that is not what its format says (truncated, inconsistent, not finite)."""


class PackedChanged(Exception):
    """Another run wrote the packed object since we read it (a conditional write failed)."""


@dataclass(frozen=True)
class RejectedFrame:
    """A frame that can never be embedded as it is (corrupt, a duplicate id, not in the layout);
    recorded so that it is not retried until the object changes (its ETag)."""

    key: str
    etag: str
    error: str


@dataclass(frozen=True)
class PackedVideo:
    """Every cached frame of one video: `frame_ids[i]`, from `frame_keys[i]`, has vector `vectors[i]`."""

    video_id: str
    model: str
    dim: int
    created_at: float  # epoch seconds
    frame_ids: list[str]
    frame_keys: list[str]
    vectors: npt.NDArray[np.float16]  # (n, dim)
    rejected: tuple[RejectedFrame, ...] = ()
    listing: str = ""  # the fingerprint of the frames/ listing it was written from ("": not known)
    # A `frames_count` that a complete run found this listing cannot meet (a frame deleted after it
    # was counted, a failed upload, a file that is no frame): searches and the sweep do not ask for
    # the video again while the count and frames/ stay so (docs/decisions/0009-requeue-memory.md).
    unmet_count: int | None = None

    @property
    def covered_frames(self) -> int:
        """Frames this object accounts for: embedded or rejected for good."""
        return len(self.frame_ids) + len(self.rejected)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.int32(FORMAT_VERSION),
            video_id=np.str_(self.video_id),
            model=np.str_(self.model),
            dim=np.int32(self.dim),
            created_at=np.float64(self.created_at),
            frame_ids=np.array(self.frame_ids, dtype=np.str_).reshape(-1),
            frame_keys=np.array(self.frame_keys, dtype=np.str_).reshape(-1),
            vectors=np.asarray(self.vectors, dtype="<f2").reshape(len(self.frame_ids), self.dim),
            rejected_keys=np.array([r.key for r in self.rejected], dtype=np.str_).reshape(-1),
            rejected_etags=np.array([r.etag for r in self.rejected], dtype=np.str_).reshape(-1),
            rejected_errors=np.array([r.error for r in self.rejected], dtype=np.str_).reshape(-1),
            listing=np.str_(self.listing),
            unmet_count=np.int64(-1 if self.unmet_count is None else self.unmet_count),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PackedVideo:
        """The packed object, checked; DamagedCache saying what is wrong otherwise."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                fields = {name: archive[name] for name in archive.files}
        except Exception as error:  # truncated zip, bad header, pickled data: all mean "damaged"
            raise DamagedCache(f"not a readable packed object ({type(error).__name__}: {error})") from None
        try:
            packed = cls(
                video_id=str(fields["video_id"]),
                model=str(fields["model"]),
                dim=int(fields["dim"]),
                created_at=float(fields["created_at"]),
                frame_ids=[str(frame_id) for frame_id in fields["frame_ids"]],
                frame_keys=[str(key) for key in fields["frame_keys"]],
                vectors=fields["vectors"],
                rejected=tuple(
                    RejectedFrame(str(key), str(etag), str(error))
                    for key, etag, error in zip(
                        fields.get("rejected_keys", ()),
                        fields.get("rejected_etags", ()),
                        fields.get("rejected_errors", ()),
                        strict=True,
                    )
                ),
                listing=str(fields.get("listing", "")),
                unmet_count=_unmet(fields.get("unmet_count")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DamagedCache(f"packed object is missing or has a bad field: {error}") from None
        packed.check()
        return packed

    def check(self) -> None:
        """DamagedCache unless the vectors are (n, dim), finite and unit length, one per frame."""
        n = len(self.frame_ids)
        if self.vectors.shape != (n, self.dim) or len(self.frame_keys) != n or self.dim < 1:
            raise DamagedCache(
                f"packed object holds vectors of shape {self.vectors.shape} for {n} frames "
                f"({len(self.frame_keys)} keys) of dimension {self.dim}"
            )
        if n and not _unit_rows(self.vectors):
            raise DamagedCache("packed object has vectors that are not finite unit vectors")


def _unmet(stored: Any) -> int | None:
    """The unmet count as stored (-1: none; absent before format 3)."""
    return None if stored is None or int(stored) < 0 else whole_number(int(stored), "unmet_count")


def _unit_rows(vectors: npt.NDArray[Any]) -> bool:
    norms = np.linalg.norm(vectors.astype(np.float32), axis=-1)
    return bool(np.all(np.isfinite(norms)) and np.all((norms > _UNIT_NORM[0]) & (norms < _UNIT_NORM[1])))


@dataclass(frozen=True)
class PackedRead:
    """What a read of the packed object found: `missing`, `unchanged` (the ETag we sent still
    holds), `damaged` (exists but unusable: `problem` says why) or `ok`."""

    status: str
    etag: str | None = None
    packed: PackedVideo | None = None
    problem: str | None = None
    last_modified: datetime | None = None  # S3's, of an `ok` read


@dataclass(frozen=True)
class ChunkDone:
    """A chunk of a split run that is done: its range, how many chunks the run has, whether it
    re-embedded its frames (`force`), and the frames it rejected, which the other chunks never
    see: the pack records them (issue #22.4); and whether it kept its vectors in its own object
    (frame_cache=packed) rather than `.npy` files, which tells the pack where they are."""

    frame_range: tuple[str, str]
    chunks: int
    force: bool
    rejected: tuple[RejectedFrame, ...]
    vectors_kept: bool = False  # absent in records written before frame_cache: `.npy` files

    def to_json(self) -> str:
        return json.dumps(
            {
                "frame_range": list(self.frame_range),
                "chunks": self.chunks,
                "force": self.force,
                "rejected": [[r.key, r.etag, r.error] for r in self.rejected],
                "vectors_kept": self.vectors_kept,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: bytes) -> ChunkDone:
        """DamagedCache when it is not one."""
        try:
            data = json.loads(text)
            first, last = data["frame_range"]
            return cls(
                (str(first), str(last)),
                int(data["chunks"]),
                bool(data["force"]),
                tuple(RejectedFrame(str(k), str(e), str(why)) for k, e, why in data["rejected"]),
                bool(data.get("vectors_kept", False)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise DamagedCache(f"unreadable chunk record: {error}") from None


@dataclass(frozen=True)
class PackedHead:
    """The packed object as its metadata (a HEAD) tells it."""

    etag: str
    covered: int  # frames it accounts for: embedded or rejected for good
    listing: str  # the frames/ listing it was written from ("": not known)
    unmet_count: int | None  # a frames_count a run found that listing cannot meet


@dataclass(frozen=True)
class CachedFrame:
    frame_id: str
    frame_key: str  # the frame it was computed from
    vector: Vector
    model: str | None


class CacheStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def write_frame(self, frame: Frame, vector: Vector, *, model: str) -> str:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=frame.cache_key,
            Body=to_npy_f16(vector),
            ContentType="application/x-npy",
            Metadata={"model": model, "dim": str(len(vector)), "frame-key": frame.key},
        )
        return frame.cache_key

    def list_frames(self, video_id: str) -> dict[str, tuple[str, str]]:
        """frame_id -> (key, ETag) of every per-frame `.npy` of the video."""
        found = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=cache_prefix(video_id)):
            for entry in page.get("Contents", []):
                frame_id = cached_frame_id(entry["Key"], video_id)
                if frame_id is not None:
                    found[frame_id] = (entry["Key"], entry["ETag"])
        return found

    def cached_videos(self) -> set[str]:
        """Every video with anything under `embeddings-cache/`: one LIST page per 1,000 of them."""
        found = set()
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=CACHE_PREFIX, Delimiter="/"):
            for entry in page.get("CommonPrefixes", []):
                found.add(entry["Prefix"][len(CACHE_PREFIX) :].rstrip("/"))
        return found

    def read_frame(self, key: str) -> CachedFrame | None:
        """The cached vector; None when it is gone (the 7-day rule deletes one object at a time) or
        not a finite unit `.npy` (then it is redone). Other S3 errors propagate."""
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        video_id, name = key.split("/")[-2:]
        frame_id = name.removesuffix(".npy")
        try:
            vector = np.load(io.BytesIO(stored["Body"].read()), allow_pickle=False)
        except Exception:
            return None
        if vector.ndim != 1 or vector.dtype.kind != "f" or not _unit_rows(vector):
            return None
        metadata = stored.get("Metadata", {})
        # Written before frame keys were recorded: the upstream layout's WebP name.
        frame_key = metadata.get("frame-key") or f"{FRAMES_PREFIX}{video_id}/{frame_id}.webp"
        return CachedFrame(frame_id, frame_key, vector.astype(np.float32), metadata.get("model"))

    def read_packed(self, video_id: str, *, unless_etag: str | None = None) -> PackedRead:
        """The packed object; `unless_etag`: a conditional GET that answers `unchanged` cheaply."""
        return self._read_packed_at(packed_key(video_id), video_id, unless_etag)

    def _read_packed_at(self, key: str, video_id: str, unless_etag: str | None = None) -> PackedRead:
        arguments = {"Bucket": self.bucket, "Key": key}
        if unless_etag:
            arguments["IfNoneMatch"] = unless_etag
        try:
            stored = self.s3.get_object(**arguments)
        except ClientError as error:
            if error_code(error) in ("304", "NotModified"):
                return PackedRead("unchanged", etag=unless_etag)
            if is_not_found(error):
                return PackedRead("missing")
            raise
        etag = stored["ETag"]
        try:
            packed = PackedVideo.from_bytes(stored["Body"].read())
        except DamagedCache as damage:
            return PackedRead("damaged", etag=etag, problem=str(damage))
        if packed.video_id != video_id:
            return PackedRead("damaged", etag=etag, problem=f"holds video {packed.video_id!r}")
        return PackedRead("ok", etag=etag, packed=packed, last_modified=stored.get("LastModified"))

    def write_chunk_done(self, video_id: str, run: str, done: ChunkDone) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=chunk_done_key(video_id, run, done.frame_range[0]),
            Body=done.to_json().encode(),
            ContentType="application/json",
        )

    def chunks_done(self, video_id: str, run: str) -> list[str]:
        """The keys of the run's chunks that are done (one LIST page per 1,000 objects of the run)."""
        return self._run_keys(video_id, run, CHUNK_DONE_SUFFIX)

    def _run_keys(
        self, video_id: str, run: str | None, suffix: str, *, since: datetime | None = None
    ) -> list[str]:
        """The keys of one run's objects (None: every run's) with this suffix, modified at or after
        `since` if given."""
        prefix = runs_prefix(video_id) if run is None else run_prefix(video_id, run)
        paginator = self.s3.get_paginator("list_objects_v2")
        return [
            entry["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
            if entry["Key"].endswith(suffix) and (since is None or entry["LastModified"] >= since)
        ]

    def write_chunk_vectors(self, run: str, first_frame_id: str, vectors: PackedVideo) -> None:
        """What a chunk (`first_frame_id`; PACK_PROGRESS_NAME: a forced run's pack) embedded so far,
        in the packed format. Unconditional: a chunk's deliveries run one at a time (its own message
        group), each from what the one before wrote; so do a run's pack's (its video's group)."""
        vectors.check()
        self.s3.put_object(
            Bucket=self.bucket,
            Key=chunk_vectors_key(vectors.video_id, run, first_frame_id),
            Body=vectors.to_bytes(),
            ContentType="application/x-npz",
        )

    def read_chunk_vectors(self, video_id: str, run: str, first_frame_id: str) -> PackedVideo | None:
        """What the chunk's earlier deliveries embedded; None when none did or it is damaged (then
        they are embedded again)."""
        return self._read_packed_at(chunk_vectors_key(video_id, run, first_frame_id), video_id).packed

    def read_run_vectors(self, video_id: str, run: str) -> list[PackedVideo]:
        """The vectors every chunk of the run embedded (one GET per chunk); a damaged one is left
        out: the pack embeds its frames again."""
        return self._read_all(self._run_keys(video_id, run, CHUNK_VECTORS_SUFFIX), video_id)

    def unpacked_run_vectors(self, video_id: str, *, since: datetime | None) -> list[PackedVideo]:
        """The vectors of the video's split runs written at or after `since` (its packed object's
        LastModified; None: all): what chunks of a run not packed yet embedded. One LIST, a GET each."""
        return self._read_all(self._run_keys(video_id, None, CHUNK_VECTORS_SUFFIX, since=since), video_id)

    def _read_all(self, keys: list[str], video_id: str) -> list[PackedVideo]:
        reads = [self._read_packed_at(key, video_id) for key in keys]
        return [read.packed for read in reads if read.packed is not None]

    def read_chunks_done(self, video_id: str, run: str) -> list[ChunkDone]:
        """What the run's chunks recorded; one that cannot be read is left out (the frames it
        rejected are then tried again, and rejected again, by the pack)."""
        found = []
        for key in self.chunks_done(video_id, run):
            try:
                stored = self.s3.get_object(Bucket=self.bucket, Key=key)
                found.append(ChunkDone.from_json(stored["Body"].read()))
            except DamagedCache:
                continue
            except ClientError as error:
                if not is_not_found(error):
                    raise
        return found

    def packed_head(self, video_id: str) -> PackedHead | None:
        """What the packed object's metadata says (one HEAD, no body); None when there is none."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=packed_key(video_id))
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        metadata = head.get("Metadata", {})
        unmet = metadata.get("unmet-count")
        return PackedHead(
            etag=str(head["ETag"]),
            covered=int(metadata.get("covered") or metadata.get("frames") or 0),
            listing=metadata.get("listing", ""),
            unmet_count=None if unmet is None else int(unmet),
        )

    def write_packed(self, packed: PackedVideo, *, replacing: str | None) -> str:
        """Write the packed object only if it is still the one we read (`replacing`: its ETag;
        None: only if there is none), so that two runs never overwrite each other's frames.
        PackedChanged when another run got there first. Returns the new object's ETag."""
        packed.check()
        key = packed_key(packed.video_id)
        condition = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        try:
            written = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=packed.to_bytes(),
                ContentType="application/x-npz",
                Metadata={
                    "model": packed.model,
                    "dim": str(packed.dim),
                    "frames": str(len(packed.frame_ids)),
                    "covered": str(packed.covered_frames),
                    "listing": packed.listing,
                    **({} if packed.unmet_count is None else {"unmet-count": str(packed.unmet_count)}),
                },
                **condition,
            )
        except ClientError as error:
            if error_code(error) in CONDITION_FAILED:
                raise PackedChanged(key) from None
            raise
        return str(written["ETag"])
