"""A batch request (one video, optionally some of its frames) and what a run did with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clipsearch.layout import is_valid_id
from clipsearch.runtime.errors import bad_request
from clipsearch.whole_numbers import OutOfRange, whole_number

FIELDS = ("video_id", "frames", "frame_range", "force", "run", "chunks", "frames_count", "removed")
MAX_RUN_ID = 128  # a run id is an SQS message id or a Lambda request id (36 characters)


@dataclass(frozen=True)
class VideoRequest:
    video_id: str
    frames: list[Any] | None  # None: every frame under frames/{video_id}/
    force: bool
    frame_range: tuple[str, str] | None = None  # a chunk: the frames whose ids are in [first, last]
    run: str | None = None  # a chunk: the run that split the video; a whole video: pack after its chunks
    chunks: int = 0  # a chunk of a run: how many chunks the run has
    frames_count: int | None = None  # the catalog's frames_count the sender saw (refill, sweep)
    # The sender removed the video's frames (clipsearch/extract): no frames is the expected outcome.
    removed: bool = False

    @property
    def whole_video(self) -> bool:
        return self.frames is None and self.frame_range is None

    @property
    def frame_bounds(self) -> tuple[str, str]:
        """The first and last frame id this request covers (every id, without a frame_range)."""
        return self.frame_range or ("", "\uffff")

    @property
    def packs_a_run(self) -> bool:
        """The whole video, asked for by the last chunk of a split run: pack what the chunks did."""
        return self.whole_video and self.run is not None


def parse_video_request(request: Any) -> VideoRequest:
    if not isinstance(request, dict):
        raise bad_request(
            f'a request must be an object like {{"video_id": "..."}}, not {type(request).__name__}'
        )
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    video_id = request.get("video_id")
    if not isinstance(video_id, str) or not is_valid_id(video_id):
        raise bad_request(f"video_id must be a string of letters, digits, '_', '.', '-', got {video_id!r}")
    frames = request.get("frames")
    if frames is not None and (not isinstance(frames, list) or not frames):
        raise bad_request("frames must be a non-empty list of frame keys (frames/{video_id}/...)")
    force = request.get("force", False)
    if not isinstance(force, bool):
        raise bad_request(f"force must be true or false, got {force!r}")
    frame_range = request.get("frame_range")
    if frame_range is not None:
        if (
            frames is not None
            or not isinstance(frame_range, list)
            or len(frame_range) != 2
            or not all(isinstance(frame_id, str) and is_valid_id(frame_id) for frame_id in frame_range)
            or frame_range[0] > frame_range[1]
        ):
            raise bad_request(
                'frame_range must be ["first_frame_id", "last_frame_id"] (in order), without frames'
            )
        frame_range = (frame_range[0], frame_range[1])
    run = request.get("run")
    if run is not None and (
        frames is not None or not isinstance(run, str) or not is_valid_id(run) or len(run) > MAX_RUN_ID
    ):
        raise bad_request(
            f"run must be a run id (letters, digits, '_', '.', '-'), without frames, got {run!r}"
        )
    chunks = request.get("chunks", 0)
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks < 0:
        raise bad_request(f"chunks must be the number of chunks of the run, got {chunks!r}")
    if bool(chunks) != (frame_range is not None and run is not None):
        raise bad_request("a chunk of a split run has frame_range, run and chunks (at least 1), together")
    frames_count = request.get("frames_count")
    if frames_count is not None:
        try:
            frames_count = whole_number(frames_count, "frames_count")
        except OutOfRange as error:
            raise bad_request(str(error)) from None
    removed = request.get("removed", False)
    if not isinstance(removed, bool) or (removed and (frames is not None or frame_range is not None)):
        raise bad_request(f"removed must be true or false, for the whole video, got {removed!r}")
    return VideoRequest(video_id, frames, force, frame_range, run, chunks, frames_count, removed)


@dataclass
class VideoResult:
    """`status`: `complete`, `split` (queued as `chunks` chunk messages) or `partial` (unfinished).
    `failed`: frames that could not be done now (S3 failed or denied): the video is unfinished
    and is retried. `rejected`: frames that can never be embedded as they are (recorded in the
    packed object, not retried until they change). `ignored`: files that are not frames."""

    video_id: str
    model: str
    total: int = 0
    embedded: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    packed_key: str | None = None
    packed_frames: int = 0
    chunks: int = 0  # a long video: queued as this many chunks instead of embedded here
    indexed: int = 0  # vectors written into the S3 Vectors index (that backend only)
    # A frames_count this run found frames/ cannot meet, newly recorded (reported once)
    frames_count_unmet: int | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.failed or self.remaining:
            return "partial"
        return "split" if self.chunks else "complete"

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "status": self.status,
            "model": self.model,
            "total": self.total,
            "embedded": self.embedded,
            "skipped": self.skipped,
            "failed": self.failed,
            "rejected": self.rejected,
            "ignored": self.ignored,
            "remaining": self.remaining,
            "packed_key": self.packed_key,
            "packed_frames": self.packed_frames,
            "chunks": self.chunks,
            "indexed": self.indexed,
            "frames_count_unmet": self.frames_count_unmet,
            "seconds": round(self.seconds, 3),
        }
