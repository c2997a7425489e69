"""The embeddings cache in S3: one `.npy` per frame, one packed `.npz` per video.

Per frame: `embeddings-cache/{video_id}/{frame_id}.npy`, float16, shape (dim,), L2-normalised, with
S3 metadata `model`, `dim` and `frame-key`. Per video: `embeddings-cache/{video_id}/packed.npz`
(see PackedVideo), so a search reads a whole video with one GET. Both load with `allow_pickle=False`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clipsearch.layout import CACHE_PREFIX, FRAMES_PREFIX, Frame
from clipsearch.vectors import Vector, from_npy, to_npy_f16

PACKED_NAME = "packed.npz"


def packed_key(video_id: str) -> str:
    return f"{CACHE_PREFIX}{video_id}/{PACKED_NAME}"


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

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.int32(1),
            video_id=np.str_(self.video_id),
            model=np.str_(self.model),
            dim=np.int32(self.dim),
            created_at=np.float64(self.created_at),
            frame_ids=np.array(self.frame_ids, dtype=np.str_).reshape(-1),
            frame_keys=np.array(self.frame_keys, dtype=np.str_).reshape(-1),
            vectors=np.asarray(self.vectors, dtype="<f2").reshape(len(self.frame_ids), self.dim),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PackedVideo:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return cls(
                video_id=str(archive["video_id"]),
                model=str(archive["model"]),
                dim=int(archive["dim"]),
                created_at=float(archive["created_at"]),
                frame_ids=[str(frame_id) for frame_id in archive["frame_ids"]],
                frame_keys=[str(key) for key in archive["frame_keys"]],
                vectors=archive["vectors"],
            )


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

    def list_frame_keys(self, video_id: str) -> dict[str, str]:
        """frame_id -> key of every per-frame `.npy` of the video."""
        found = {}
        prefix = f"{CACHE_PREFIX}{video_id}/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                name = entry["Key"].removeprefix(prefix)
                if name.endswith(".npy") and "/" not in name:
                    found[name.removesuffix(".npy")] = entry["Key"]
        return found

    def read_frame(self, key: str) -> CachedFrame | None:
        """The cached vector, or None when the object is not a readable `.npy` (then it is redone)."""
        stored = self.s3.get_object(Bucket=self.bucket, Key=key)
        frame_id = key.rsplit("/", 1)[-1].removesuffix(".npy")
        try:
            vector = from_npy(stored["Body"].read())
        except (ValueError, OSError, EOFError):
            return None
        metadata = stored.get("Metadata", {})
        # Written before frame keys were recorded: the upstream layout's WebP name.
        frame_key = metadata.get("frame-key") or f"{FRAMES_PREFIX}{key.split('/')[-2]}/{frame_id}.webp"
        return CachedFrame(frame_id, frame_key, vector, metadata.get("model"))

    def read_packed(self, video_id: str) -> PackedVideo | None:
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=packed_key(video_id))
        except self.s3.exceptions.NoSuchKey:
            return None
        return PackedVideo.from_bytes(stored["Body"].read())

    def write_packed(self, packed: PackedVideo) -> str:
        key = packed_key(packed.video_id)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=packed.to_bytes(),
            ContentType="application/x-npz",
            Metadata={"model": packed.model, "dim": str(packed.dim), "frames": str(len(packed.frame_ids))},
        )
        return key
