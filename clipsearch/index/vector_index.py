"""The S3 Vectors backend's data access: the index itself, and per video a ledger of what the
index holds of it (`vector-index/{video_id}.json` in the frame bucket).

The index answers "which frames are nearest"; only the ledgers answer "which videos are in it":
S3 Vectors lists no keys by prefix, so the ledger also keeps the keys that must be deleted when
frames leave `frames/` or the video leaves the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from botocore.exceptions import ClientError

from clipsearch.cache.store import RejectedFrame
from clipsearch.index.limits import GET_BATCH, WRITE_BATCH
from clipsearch.layout import INDEX_LEDGER_PREFIX, frame_index, index_ledger_key, ledger_video_id, vector_key
from clipsearch.runtime.faults import CONDITION_FAILED, error_code, is_not_found
from clipsearch.vectors import Vector

LEDGER_FORMAT = 1
T = TypeVar("T")


class DamagedLedger(ValueError):
    """A ledger that cannot be read: what the index holds of that video is unknown, so nothing may
    be deleted on its word (or the ledger's absence); the run fails and says which."""


class LedgerChanged(Exception):
    """Another run wrote the ledger since we read it (a conditional write failed)."""


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
    frame_index: int  # from the frame id in the key: -1 when it holds no number
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

    def query(self, vector: Vector, *, top_k: int, filter: dict[str, Any] | None) -> Answer[list[IndexHit]]:
        """The `top_k` nearest frames, nearest first, as S3 Vectors ranks them (every page); a
        returned vector that cannot be decoded is left out and its video named in `undecodable`."""
        arguments: dict[str, Any] = {
            **self.where,
            "topK": top_k,
            "queryVector": {"float32": np.asarray(vector, dtype=np.float32).tolist()},
            "returnMetadata": True,
            "returnDistance": True,
        }
        if filter:
            # Filter before the nearest-neighbour search (a CLASSIC index filters during it, and a
            # narrow `video_ids` or `time_range` can then come back short or empty).
            arguments |= {"filter": filter, "queryMode": "ENHANCED"}
        items = [
            item
            for page in self.client.get_paginator("query_vectors").paginate(**arguments)
            for item in page.get("vectors", [])
        ]
        answer: Answer[list[IndexHit]] = Answer([])
        for item in items[:top_k]:
            with answer.decoding(item):
                metadata = item.get("metadata") or {}
                video_id, _, frame_id = str(item["key"]).partition("/")
                answer.value.append(
                    IndexHit(
                        key=str(item["key"]),
                        video_id=str(metadata.get("video_id", video_id)),
                        frame_id=frame_id,
                        frame_key=str(metadata.get("frame_key", "")),
                        frame_index=frame_index(frame_id),  # the key's number, range-checked
                        model=str(metadata.get("model", "")),
                        score=1.0 - float(item["distance"]),
                    )
                )
        return answer

    def vectors(self, keys: Sequence[str]) -> Answer[dict[str, Vector]]:
        """The stored vectors of these keys that still exist (GetVectors, 100 keys per call); one
        that cannot be decoded is left out and its video named in `undecodable`."""
        answer: Answer[dict[str, Vector]] = Answer({})
        for start in range(0, len(keys), GET_BATCH):
            response = self.client.get_vectors(
                **self.where, keys=list(keys[start : start + GET_BATCH]), returnData=True
            )
            for item in response.get("vectors", []):
                with answer.decoding(item):
                    answer.value[str(item["key"])] = np.asarray(item["data"]["float32"], dtype=np.float32)
        return answer


@dataclass
class Answer(Generic[T]):
    """What the index returned that could be decoded (`value`), and per video why some of it could
    not (`undecodable`): one bad vector never fails a search, it degrades its video."""

    value: T
    undecodable: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def decoding(self, item: Any) -> Iterator[None]:
        try:
            yield
        except Exception as error:  # any malformed item: its key, metadata or data
            video_id = str(item.get("key", "")).partition("/")[0] if isinstance(item, dict) else ""
            why = f"the index returned a vector that could not be decoded ({error})"
            self.undecodable.setdefault(video_id, why)


@dataclass(frozen=True)
class Ledger:
    """What the index holds of one video, written after its vectors are."""

    video_id: str
    model: str
    source_etag: str  # the packed object the vectors were written from
    timing: tuple[float, int] | None  # (video_fps, frame_step) the times were computed with
    frame_etags: dict[str, str]  # frame id -> the ETag its frame had when its vector was written
    rejected: tuple[RejectedFrame, ...]  # frames rejected for good, with the ETag they had
    listing: str = ""  # the frames/ listing it was written from (the packed object's, "": not known)
    unmet_count: int | None = None  # a frames_count a run found that listing cannot meet

    @property
    def frame_ids(self) -> tuple[str, ...]:
        """The frames whose vectors are in the index."""
        return tuple(self.frame_etags)

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
                "frames": self.frame_etags,
                "rejected": [[r.key, r.etag, r.error] for r in self.rejected],
                "listing": self.listing,
                "unmet_count": self.unmet_count,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: bytes | str) -> Ledger:
        """DamagedLedger when it is not one this code can read."""
        try:
            data = json.loads(text)
            if data["format"] != LEDGER_FORMAT:
                raise ValueError(f"format {data['format']!r}, this code reads {LEDGER_FORMAT}")
            timing = data["timing"]
            return cls(
                video_id=str(data["video_id"]),
                model=str(data["model"]),
                source_etag=str(data["source_etag"]),
                timing=(float(timing[0]), int(timing[1])) if timing else None,
                frame_etags={str(frame_id): str(etag) for frame_id, etag in data["frames"].items()},
                rejected=tuple(RejectedFrame(str(k), str(e), str(why)) for k, e, why in data["rejected"]),
                listing=str(data.get("listing", "")),  # absent in ledgers written before issue #22
                unmet_count=None if data.get("unmet_count") is None else int(data["unmet_count"]),
            )
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise DamagedLedger(f"unreadable ledger: {error}") from None


@dataclass(frozen=True)
class LedgerRead:
    ledger: Ledger | None  # None: there is none
    etag: str | None


class Ledgers:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def read(self, video_id: str) -> LedgerRead:
        """The video's ledger and its ETag; DamagedLedger when one exists that cannot be read."""
        key = index_ledger_key(video_id)
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return LedgerRead(None, None)
            raise
        try:
            ledger = Ledger.from_json(stored["Body"].read())
        except DamagedLedger as damage:
            raise DamagedLedger(f"s3://{self.bucket}/{key}: {damage}") from None
        if ledger.video_id != video_id:
            raise DamagedLedger(f"s3://{self.bucket}/{key} holds video {ledger.video_id!r}")
        return LedgerRead(ledger, str(stored["ETag"]))

    def exists(self, video_id: str) -> bool:
        """One HEAD: does the video have a ledger (is it in the index)?"""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=index_ledger_key(video_id))
        except ClientError as error:
            if is_not_found(error):
                return False
            raise
        return True

    def write(self, ledger: Ledger, *, replacing: str | None) -> None:
        """Only if the ledger is still the one read (`replacing`: its ETag; None: only if there is
        none): LedgerChanged when another run wrote it meanwhile."""
        condition = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=index_ledger_key(ledger.video_id),
                Body=ledger.to_json().encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if error_code(error) in CONDITION_FAILED:
                raise LedgerChanged(ledger.video_id) from None
            raise

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
