"""Where things live in the bucket: the upstream frame layout and our cache layout."""

from __future__ import annotations

import re
from dataclasses import dataclass

FRAMES_PREFIX = "frames/"
CACHE_PREFIX = "embeddings-cache/"
IMAGE_EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")
_ID = re.compile(r"[A-Za-z0-9_.-]+")


def is_valid_id(value: str) -> bool:
    """Video and frame IDs are opaque strings of `[A-Za-z0-9_.-]` (never `.` or `..`)."""
    return bool(_ID.fullmatch(value)) and value not in (".", "..")


@dataclass(frozen=True)
class Frame:
    """One keyframe: `frames/{video_id}/{frame_id}.{ext}`."""

    video_id: str
    frame_id: str
    key: str

    @property
    def cache_key(self) -> str:
        return f"{CACHE_PREFIX}{self.video_id}/{self.frame_id}.npy"


def parse_frame_key(key: str) -> Frame:
    """The frame at `key`; ValueError saying what the layout is when it does not follow it."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != FRAMES_PREFIX.rstrip("/"):
        raise ValueError(f"{key!r} is not a frame key: expected frames/{{video_id}}/{{frame}}.{{ext}}")
    _, video_id, name = parts
    frame_id, dot, extension = name.rpartition(".")
    if not dot or f".{extension.lower()}" not in IMAGE_EXTENSIONS:
        raise ValueError(f"{key!r}: a frame must be one of {', '.join(IMAGE_EXTENSIONS)}")
    if not (is_valid_id(video_id) and is_valid_id(frame_id)):
        raise ValueError(f"{key!r}: video and frame IDs may only hold letters, digits, '_', '.', '-'")
    return Frame(video_id=video_id, frame_id=frame_id, key=key)
