"""Where things live in the bucket: the upstream upload and frame layout, our cache layout, `s3://` URIs.

The one home of every key format: `uploads/...` (a video file as uploaded; its video id is the
upstream's sha256 of `bucket|key|etag`), `frames/{video_id}/{frame_id}.{ext}` (upstream; the
extractor names frames `frame_{index:06d}.webp`), `embeddings-cache/{video_id}/{frame_id}.npy`,
`embeddings-cache/{video_id}/packed.npz` and
`embeddings-cache/{video_id}/runs/{run}/{first_frame_id}.json` (a chunk of a split run, done: ours) and,
with `frame_cache=packed`, `.../runs/{run}/{first_frame_id}.npz` (the vectors that chunk embedded;
`+pack.npz`: those a forced run's pack embedded),
and with the S3 Vectors backend `vector-index/{video_id}.json` (what the index holds of a video,
kept out of the cache's 7-day expiry) and the index's vector keys `{video_id}/{frame_id}`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from clipsearch.whole_numbers import decimal_digits

UPLOADS_PREFIX = "uploads/"
FRAMES_PREFIX = "frames/"
CACHE_PREFIX = "embeddings-cache/"
PACKED_NAME = "packed.npz"
FRAME_VECTOR_SUFFIX = ".npy"
CHUNK_DONE_SUFFIX = ".json"
CHUNK_VECTORS_SUFFIX = ".npz"
# The name of what a forced split's pack embedded itself (a chunk's object is named by its first frame
# id, which never holds a "+").
PACK_PROGRESS_NAME = "+pack"
INDEX_LEDGER_PREFIX = "vector-index/"
INDEX_LEDGER_SUFFIX = ".json"
# The index's metadata that is only returned, never filtered on (the rest, video_id, frame_index and
# time_s, is filterable). Fixed when the index is created: changing it replaces the index.
INDEX_NON_FILTERABLE_KEYS = ("frame_key", "model")
IMAGE_EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def is_valid_id(value: str) -> bool:
    """Video and frame IDs are opaque strings of `[A-Za-z0-9_.-]` (never `.` or `..`)."""
    return bool(_ID.fullmatch(value)) and value not in (".", "..")


def frame_index(frame_id: str) -> int:
    """The number at the end of a frame id (`frame_000042` -> 42), -1 when there is none;
    OutOfRange (a ValueError) when it does not fit 64 bits: such a frame is not in the layout."""
    match = _TRAILING_NUMBER.search(frame_id)
    return decimal_digits(match.group(1), f"frame {frame_id!r}: its number") if match else -1


def frames_prefix(video_id: str) -> str:
    return f"{FRAMES_PREFIX}{video_id}/"


def extracted_frame_id(index: int) -> str:
    """The upstream extractor's id of a video's index-th keyframe (counting from 0)."""
    return f"frame_{index:06d}"


def extracted_frame_key(video_id: str, index: int) -> str:
    """The upstream extractor's name for a video's index-th keyframe (WebP, counting from 0)."""
    return f"{frames_prefix(video_id)}{extracted_frame_id(index)}.webp"


def upload_video_id(bucket: str, key: str, etag: str) -> str:
    """The upstream's video id of an uploaded file: sha256 of `bucket|key|etag` (the ETag without
    quotes), so each version of an upload is a video of its own."""
    return hashlib.sha256(f"{bucket}|{key}|{etag.strip(chr(34))}".encode()).hexdigest()


def cache_prefix(video_id: str) -> str:
    return f"{CACHE_PREFIX}{video_id}/"


def packed_key(video_id: str) -> str:
    return f"{cache_prefix(video_id)}{PACKED_NAME}"


def runs_prefix(video_id: str) -> str:
    """Where the split runs of a video keep what their chunks did."""
    return f"{cache_prefix(video_id)}runs/"


def run_prefix(video_id: str, run: str) -> str:
    """Where the chunks of one split run of a video say they are done."""
    return f"{runs_prefix(video_id)}{run}/"


def chunk_done_key(video_id: str, run: str, first_frame_id: str) -> str:
    return f"{run_prefix(video_id, run)}{first_frame_id}{CHUNK_DONE_SUFFIX}"


def chunk_vectors_key(video_id: str, run: str, first_frame_id: str) -> str:
    """Where a chunk of a split run keeps the vectors it embedded when no per-frame files are written."""
    return f"{run_prefix(video_id, run)}{first_frame_id}{CHUNK_VECTORS_SUFFIX}"


def index_ledger_key(video_id: str) -> str:
    return f"{INDEX_LEDGER_PREFIX}{video_id}{INDEX_LEDGER_SUFFIX}"


def ledger_video_id(key: str) -> str | None:
    """The video of an index ledger key, None for any other key."""
    name = key.removeprefix(INDEX_LEDGER_PREFIX)
    if name == key or "/" in name or not name.endswith(INDEX_LEDGER_SUFFIX):
        return None
    video_id = name.removesuffix(INDEX_LEDGER_SUFFIX)
    return video_id if is_valid_id(video_id) else None


def vector_key(video_id: str, frame_id: str) -> str:
    """A frame's key in the S3 Vectors index."""
    return f"{video_id}/{frame_id}"


def cached_frame_id(key: str, video_id: str) -> str | None:
    """The frame id of a per-frame vector key of this video, None for any other key (the packed
    object, a sub-folder, another suffix)."""
    name = key.removeprefix(cache_prefix(video_id))
    if name == key or "/" in name or not name.endswith(FRAME_VECTOR_SUFFIX):
        return None
    return name.removesuffix(FRAME_VECTOR_SUFFIX)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; ValueError when it is not one."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ValueError(f"{uri!r} needs a bucket and an object key: s3://<bucket>/frames/...")
    return bucket, key


@dataclass(frozen=True)
class Frame:
    """One keyframe: `frames/{video_id}/{frame_id}.{ext}`."""

    video_id: str
    frame_id: str
    key: str

    @property
    def cache_key(self) -> str:
        return f"{cache_prefix(self.video_id)}{self.frame_id}{FRAME_VECTOR_SUFFIX}"


def parse_frame_key(key: str) -> Frame:
    """The frame at `key`; ValueError saying what the layout is when it does not follow it (a frame
    number past 64 bits included)."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != FRAMES_PREFIX.rstrip("/"):
        raise ValueError(f"{key!r} is not a frame key: expected frames/{{video_id}}/{{frame}}.{{ext}}")
    _, video_id, name = parts
    frame_id, dot, extension = name.rpartition(".")
    if not dot or f".{extension.lower()}" not in IMAGE_EXTENSIONS:
        raise ValueError(f"{key!r}: a frame must be one of {', '.join(IMAGE_EXTENSIONS)}")
    if not (is_valid_id(video_id) and is_valid_id(frame_id)):
        raise ValueError(f"{key!r}: video and frame IDs may only hold letters, digits, '_', '.', '-'")
    frame_index(frame_id)  # OutOfRange past 64 bits: the frame is rejected here, never downstream
    return Frame(video_id=video_id, frame_id=frame_id, key=key)
