"""The demo's printed lines (local/report.py)."""

from __future__ import annotations

from local.report import searched_line


def test_the_searched_line_counts_one_video_and_many():
    body = {"searched_frames": 20, "took_ms": 3.5, "missing_videos": []}
    assert searched_line({**body, "searched_videos": 1}).startswith("searched 1 video, 20 frames in")
    assert searched_line({**body, "searched_videos": 4}).startswith("searched 4 videos, 20 frames in")
    assert searched_line({**body, "searched_videos": 4, "searched_frames": None}) == (
        "searched 4 videos in 3.5 ms; missing: none"
    )
