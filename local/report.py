"""Readable tables for the command line."""

from __future__ import annotations

from typing import Any


def results_table(body: dict[str, Any]) -> str:
    lines = [f"{'rank':>4}  {'score':>7}  {'video':<18} {'frame':<14} {'time':>7}  frame key"]
    for hit in body["results"]:
        seconds = f"{hit['timestamp_s']:.1f}s" if "timestamp_s" in hit else "-"
        where = f"{hit['video_id']:<18} {hit['frame_id']:<14} {seconds:>7}"
        lines.append(f"{hit['rank']:>4}  {hit['score']:>7.4f}  {where}  {hit['frame_key']}")
    if not body["results"]:
        lines.append("  (no results)")
    frames = body["searched_frames"]
    searched = f"searched {body['searched_videos']} videos" + (
        f", {frames} frames" if frames is not None else ""
    )
    lines.append(f"{searched} in {body['took_ms']} ms; missing: {body['missing_videos'] or 'none'}")
    return "\n".join(lines)


def batch_line(result: dict[str, Any]) -> str:
    return (
        f"  {result['video_id']:<18} {result['status']:<8} embedded {result['embedded']}, "
        f"skipped {result['skipped']}, rejected {len(result['rejected'])}, failed {len(result['failed'])} "
        f"({result['seconds']:.1f}s)"
    )
