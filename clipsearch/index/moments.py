"""Moments: a search's matching frames grouped into time ranges of one video, the unit of an answer
when a request asks for `group: "moments"`.

The selection, exactly (docs/api/search.md, Moments):

1. Candidates: the backend's best MOMENT_CANDIDATES frames for the query, after the request's
   `video_ids`, `time_range` and `min_score` filters, exactly as a `frames` search of that many
   would return them (best first; equal scores in video order, then frame); `dedupe` does not
   apply (a moment is the collapse). 100 is what an
   S3 Vectors query returns at most, so both backends group the same candidates.
2. Runs: per video, the candidates in time order; two consecutive candidates belong to one moment
   when the later is at most `gap_s` seconds after the earlier and no shot cut of the video lies
   between them (a cut at sampled frame c separates frames a < c <= b; videos that came through the
   upload path have their cuts). A video without timing (no fps or step) gives single-frame
   moments.
3. A moment: its video, `start_s` and `end_s` (the times of its first and last candidate), `score`
   (its best candidate's), the best frame, `frame_count` (its candidates) and up to PREVIEW_FRAMES
   of its candidates spread evenly over it, first and last included, in time order.
4. Order: score (best first), then video order, then start; `top_k` counts moments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.backend import FrameHit

MOMENT_CANDIDATES = 100
PREVIEW_FRAMES = 5


@dataclass(frozen=True)
class MomentFrame:
    hit: FrameHit
    time_s: float | None  # None: the video has no timing, or the frame id no index

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "frame_id": self.hit.frame_id,
            "frame_key": self.hit.frame_key,
            "score": round(self.hit.score, 6),
        }
        if self.time_s is not None:
            found["timestamp_s"] = round(self.time_s, 3)
        return found


@dataclass(frozen=True)
class Moment:
    video_id: str
    frames: tuple[MomentFrame, ...]  # its candidates, in time order

    @property
    def best(self) -> MomentFrame:
        return max(self.frames, key=lambda frame: (frame.hit.score, -frame.hit.frame_index))

    @property
    def score(self) -> float:
        return self.best.hit.score

    @property
    def start_s(self) -> float | None:
        return self.frames[0].time_s

    @property
    def end_s(self) -> float | None:
        return self.frames[-1].time_s

    def preview(self, count: int = PREVIEW_FRAMES) -> list[MomentFrame]:
        """Up to `count` of its frames, evenly spread, the first and the last included."""
        if len(self.frames) <= count:
            return list(self.frames)
        picks = np.linspace(0, len(self.frames) - 1, count).round().astype(int)
        return [self.frames[i] for i in sorted(set(picks.tolist()))]

    def as_dict(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "video_id": self.video_id,
            "start_s": None if self.start_s is None else round(self.start_s, 3),
            "end_s": None if self.end_s is None else round(self.end_s, 3),
            "score": round(self.score, 6),
            "frame_count": len(self.frames),
            "best": self.best.as_dict(),
            "preview": [frame.as_dict() for frame in self.preview()],
        }


def group_moments(
    hits: Sequence[FrameHit], videos: dict[str, VideoInfo], *, gap_s: float, top_k: int
) -> list[Moment]:
    """The best `top_k` moments of these candidate frames (see the module docstring)."""
    order = {video_id: number for number, video_id in enumerate(sorted(videos))}
    by_video: dict[str, list[MomentFrame]] = {}
    for hit in hits:
        info = videos[hit.video_id]
        (seconds,) = info.frame_seconds(np.array([hit.frame_index], dtype=np.int64))
        time_s = None if np.isnan(seconds) else float(seconds)
        by_video.setdefault(hit.video_id, []).append(MomentFrame(hit, time_s))
    moments: list[Moment] = []
    for video_id, frames in by_video.items():
        cuts = videos[video_id].cut_frames
        timed = sorted((f for f in frames if f.time_s is not None), key=lambda f: (f.time_s, f.hit.frame_id))
        moments += [Moment(video_id, (frame,)) for frame in frames if frame.time_s is None]
        run: list[MomentFrame] = []
        for frame in timed:
            if run and _joins(run[-1], frame, gap_s, cuts):
                run.append(frame)
                continue
            if run:
                moments.append(Moment(video_id, tuple(run)))
            run = [frame]
        if run:
            moments.append(Moment(video_id, tuple(run)))
    moments.sort(key=lambda m: (-m.score, order[m.video_id], m.start_s if m.start_s is not None else -1.0))
    return moments[:top_k]


def _joins(previous: MomentFrame, frame: MomentFrame, gap_s: float, cuts: tuple[int, ...]) -> bool:
    assert previous.time_s is not None
    assert frame.time_s is not None
    if frame.time_s - previous.time_s > gap_s:
        return False
    low, high = previous.hit.frame_index, frame.hit.frame_index
    return not any(low < cut <= high for cut in cuts)
