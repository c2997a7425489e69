"""The S3 Vectors backend's data access: the index itself, and per video a ledger of what the
index holds of it (`vector-index/{video_id}.json` in the frame bucket).

The index answers "which frames are nearest"; only the ledgers answer "which videos are in it":
S3 Vectors lists no keys by prefix, so the ledger also keeps the keys that must be deleted when
frames leave `frames/` or the video leaves the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from clipsearch.faults import is_not_found
from clipsearch.layout import INDEX_LEDGER_PREFIX, index_ledger_key, ledger_video_id, vector_key
from clipsearch.vectors import Vector

WRITE_BATCH = 500  # PutVectors takes at most 500 vectors per call, DeleteVectors 500 keys
MAX_TOP_K = 100  # QueryVectors' topK limit
LEDGER_FORMAT = 1


@dataclass(frozen=True)
class IndexedFrame:
    """One frame's vector and the metadata it is stored with."""

    frame_id: str
    frame_key: str
    frame_index: int  # -1: the frame id holds no number
    time_s: float | None  # None: the video has no timing (not filterable by time)
    vector: Vector

    def metadata(self, video_id: str, model: str) -> dict[str, Any]:
        # video_id, frame_index and time_s are filterable; INDEX_NON_FILTERABLE_KEYS are not (the index's
        # metadata configuration), so they cost nothing against the 2 KB filterable limit.
        fields: dict[str, Any] = {
            "video_id": video_id,
            "frame_index": self.frame_index,
            "frame_key": self.frame_key,
            "model": model,
        }
        if self.time_s is not None:
            fields["time_s"] = self.time_s
        return fields


@dataclass(frozen=True)
class IndexHit:
    """A frame QueryVectors returned; `score` is the cosine (1 - the cosine distance)."""

    key: str
    video_id: str
    frame_id: str
    frame_key: str
    frame_index: int
    model: str
    score: float


class VectorIndex:
    def __init__(self, client: Any, *, bucket_name: str, index_name: str) -> None:
        self.client = client
        self.where = {"vectorBucketName": bucket_name, "indexName": index_name}

    def put(self, video_id: str, model: str, frames: Sequence[IndexedFrame]) -> None:
        """Write (or overwrite: a key is idempotent) these frames' vectors, 500 per call."""
        for start in range(0, len(frames), WRITE_BATCH):
            self.client.put_vectors(
                **self.where,
                vectors=[
                    {
                        "key": vector_key(video_id, frame.frame_id),
                        "data": {"float32": np.asarray(frame.vector, dtype=np.float32).tolist()},
                        "metadata": frame.metadata(video_id, model),
                    }
                    for frame in frames[start : start + WRITE_BATCH]
                ],
            )

    def delete(self, video_id: str, frame_ids: Iterable[str]) -> None:
        keys = [vector_key(video_id, frame_id) for frame_id in frame_ids]
        for start in range(0, len(keys), WRITE_BATCH):
            self.client.delete_vectors(**self.where, keys=keys[start : start + WRITE_BATCH])

    def query(self, vector: Vector, *, top_k: int, filter: dict[str, Any] | None) -> list[IndexHit]:
        """The `top_k` nearest frames (at most MAX_TOP_K), nearest first, as S3 Vectors ranks them."""
        arguments: dict[str, Any] = {
            **self.where,
            "topK": min(top_k, MAX_TOP_K),
            "queryVector": {"float32": np.asarray(vector, dtype=np.float32).tolist()},
            "returnMetadata": True,
            "returnDistance": True,
        }
        if filter:
            arguments["filter"] = filter
        found = self.client.query_vectors(**arguments)
        hits = []
        for item in found.get("vectors", []):
            metadata = item.get("metadata") or {}
            video_id, _, frame_id = str(item["key"]).partition("/")
            hits.append(
                IndexHit(
                    key=str(item["key"]),
                    video_id=str(metadata.get("video_id", video_id)),
                    frame_id=frame_id,
                    frame_key=str(metadata.get("frame_key", "")),
                    frame_index=int(metadata.get("frame_index", -1)),
                    model=str(metadata.get("model", "")),
                    score=1.0 - float(item["distance"]),
                )
            )
        return hits

    def vectors(self, keys: Sequence[str]) -> dict[str, Vector]:
        """The stored vectors of these keys (GetVectors; 100 keys per call)."""
        found: dict[str, Vector] = {}
        for start in range(0, len(keys), MAX_TOP_K):
            answer = self.client.get_vectors(
                **self.where, keys=list(keys[start : start + MAX_TOP_K]), returnData=True
            )
            for item in answer.get("vectors", []):
                found[str(item["key"])] = np.asarray(item["data"]["float32"], dtype=np.float32)
        return found


@dataclass(frozen=True)
class Ledger:
    """What the index holds of one video, written after its vectors are."""

    video_id: str
    model: str
    source_etag: str  # the packed object the vectors were written from
    timing: tuple[float, int] | None  # (video_fps, frame_step) the times were computed with
    frame_ids: tuple[str, ...]  # the vectors in the index
    rejected: tuple[str, ...]  # frame ids rejected for good (not embeddable as they are)

    @property
    def covered_frames(self) -> int:
        """Frames accounted for, as the packed object counts them: embedded or rejected for good."""
        return len(self.frame_ids) + len(self.rejected)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": LEDGER_FORMAT,
                "video_id": self.video_id,
                "model": self.model,
                "source_etag": self.source_etag,
                "timing": list(self.timing) if self.timing else None,
                "frame_ids": list(self.frame_ids),
                "rejected": list(self.rejected),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: bytes | str) -> Ledger | None:
        """The ledger, or None when it is not one (damaged or another format): it is rewritten."""
        try:
            data = json.loads(text)
            timing = data["timing"]
            ledger = cls(
                video_id=str(data["video_id"]),
                model=str(data["model"]),
                source_etag=str(data["source_etag"]),
                timing=(float(timing[0]), int(timing[1])) if timing else None,
                frame_ids=tuple(str(frame_id) for frame_id in data["frame_ids"]),
                rejected=tuple(str(frame_id) for frame_id in data["rejected"]),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        return ledger if data.get("format") == LEDGER_FORMAT else None


class Ledgers:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def read(self, video_id: str) -> Ledger | None:
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=index_ledger_key(video_id))
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        ledger = Ledger.from_json(stored["Body"].read())
        return ledger if ledger and ledger.video_id == video_id else None

    def exists(self, video_id: str) -> bool:
        """One HEAD: does the video have a ledger (is it in the index)?"""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=index_ledger_key(video_id))
        except ClientError as error:
            if is_not_found(error):
                return False
            raise
        return True

    def write(self, ledger: Ledger) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=index_ledger_key(ledger.video_id),
            Body=ledger.to_json().encode(),
            ContentType="application/json",
        )

    def delete(self, video_id: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=index_ledger_key(video_id))

    def video_ids(self) -> set[str]:
        """Every video with a ledger: one LIST page per 1,000 videos."""
        videos = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=INDEX_LEDGER_PREFIX
        ):
            for item in page.get("Contents", []):
                video_id = ledger_video_id(item["Key"])
                if video_id is not None:
                    videos.add(video_id)
        return videos
