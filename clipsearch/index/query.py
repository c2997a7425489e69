"""What a search asks of a backend: the query (text, image or vector) and its options, checked
(clipsearch/search/request.py parses a request into one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# With a frame a second: two matching frames with up to two frames between them join.
DEFAULT_GAP_S = 3.0
MAX_GAP_S = 600.0


@dataclass(frozen=True)
class SearchRequest:
    mode: str  # "text", "image" or "embedding"
    query: Any  # the text, the image item, or the unit query vector (embedding)
    top_k: int
    video_ids: list[str] | None
    min_score: float | None
    dedupe: bool
    time_range: tuple[float, float] | None
    model: str | None
    frame_urls: bool = False  # a presigned URL per result (clipsearch/search/frame_links.py)
    group: str = "frames"  # "frames" (the guide's results) or "moments" (clipsearch/index/moments.py)
    moment_gap_s: float = DEFAULT_GAP_S  # moments: the most seconds between two frames of one moment
