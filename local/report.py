"""Readable tables for the command line."""

from __future__ import annotations

from typing import Any


def short(video_id: str) -> str:
    """A video id as a column shows it: an upload's 64-character id is cut to 16 (and marked)."""
    return video_id if len(video_id) <= 18 else f"{video_id[:16]}…"


def clock(seconds: float | None) -> str:
    """`mm:ss` (or `h:mm:ss`), `-` when unknown."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def results_table(body: dict[str, Any]) -> str:
    """A search response as a table: its frames, or its moments (`group: "moments"`)."""
    if "moments" in body:
        return moments_table(body)
    lines = [f"{'rank':>4}  {'score':>7}  {'video':<18} {'frame':<14} {'time':>7}  frame key"]
    for hit in body["results"]:
        seconds = f"{hit['timestamp_s']:.1f}s" if "timestamp_s" in hit else "-"
        where = f"{short(hit['video_id']):<18} {hit['frame_id']:<14} {seconds:>7}"
        lines.append(f"{hit['rank']:>4}  {hit['score']:>7.4f}  {where}  {hit['frame_key']}")
    if not body["results"]:
        lines.append("  (no results)")
    return "\n".join([*lines, searched_line(body)])


def moments_table(body: dict[str, Any]) -> str:
    lines = [f"{'rank':>4}  {'score':>7}  {'video':<18} {'moment':<13} {'frames':>6}  best frame"]
    for moment in body["moments"]:
        span = f"{clock(moment['start_s'])}–{clock(moment['end_s'])}"
        best = moment["best"]
        lines.append(
            f"{moment['rank']:>4}  {moment['score']:>7.4f}  {short(moment['video_id']):<18} {span:<13} "
            f"{moment['frame_count']:>6}  {best['frame_id']} ({clock(best.get('timestamp_s'))})"
        )
    if not body["moments"]:
        lines.append("  (no moments)")
    return "\n".join([*lines, searched_line(body)])


def searched_line(body: dict[str, Any]) -> str:
    frames = body["searched_frames"]
    videos = body["searched_videos"]
    searched = f"searched {videos} video{'' if videos == 1 else 's'}" + (
        f", {frames} frames" if frames is not None else ""
    )
    return f"{searched} in {body['took_ms']} ms; missing: {body['missing_videos'] or 'none'}"


def batch_line(result: dict[str, Any]) -> str:
    return (
        f"  {result['video_id']:<18} {result['status']:<8} embedded {result['embedded']}, "
        f"skipped {result['skipped']}, rejected {len(result['rejected'])}, failed {len(result['failed'])} "
        f"({result['seconds']:.1f}s)"
    )
