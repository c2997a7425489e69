"""A video file's facts, and its sampled keyframes with the shot cuts between them: the decoding core
of the extraction function (no AWS here; the handler passes a seekable file object, e.g. an S3 reader).

Sampling (the upstream extractor's contract, made exact):

- `step = max(1, round(video_fps / extract_fps))`, `video_fps` the stream's average frame rate.
- Sampled frame i is the frame on display at t_i = i * step / video_fps seconds from the stream's start
  (its start_time, e.g. 1.4 s into an MPEG-TS): the decoded frame with the largest presentation time
  <= t_i. Times are compared exactly, in the stream's own ticks: t_i becomes T_i = floor(t_i / time_base
  + 1/2), rounded to the nearest tick as a muxer rounds a frame's time when it stores it, and a frame
  qualifies when pts - start_pts <= T_i.
  (Without that rounding a 23.976 fps WebM, whose time base is 1 ms, stores frame 12 at 501 ms, after
  t_1 = 500.5 ms, and extracting 2 frames a second would drift one frame early.)
- i runs over 0 .. n-1, n = min(max_frames, the number of i with i * step < F), F = duration *
  video_fps rounded to the nearest whole frame: t_i before the end, give or take the container's own
  rounding (a constant-rate video's F is its frame count; a Matroska of 29 frames at 15 fps states
  1.934 s, 29.01 frames, and t_29 = 1.9333 s would otherwise sample its last frame twice).

For constant frame rate that is every step-th source frame; for variable frame rate it is what a viewer
sees at t_i, so the search's formula i * step / video_fps stays right either way.

Shot cuts: for consecutive decoded source frames (k-1, k), `scenes.cut_score` >= the threshold is a cut
at k. It belongs to sampled index i when T_{i-1} < pts_k <= T_i (sampled frames i-1 and i then show
different shots); index 0 has none. The score depends on the two frames only, so a range reports the
same cuts as the whole video: for a range [start, stop) decoding starts at the keyframe at or before
T_{start-1}, so the cut at `start` is seen too.

Failures are `MediaError(kind, reason)` (kinds: `MediaErrorKind`), raised by `open_video`, which reads
the header and decodes the first frame, wherever they can be known up front: all but a truncation or
corruption that shows only later in the data, which `Video.frames` raises when it gets there.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import struct
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Final, Literal, Protocol, Self, cast

import av
import av.error
from av.container import InputContainer
from av.sidedata.sidedata import SideDataContainer
from av.sidedata.sidedata import Type as SideDataType
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream
from PIL import Image

from clipsearch.extract import scenes
from clipsearch.extract.webp import fit_within

MediaErrorKind = Literal[
    "not_a_video",  # no container FFmpeg knows (random bytes, text), or a still image (JPEG, PNG)
    "no_video_stream",  # a container without a video stream (audio only; cover art does not count)
    "empty",  # zero bytes, a container with no streams, or a video stream with no frame that decodes
    "truncated",  # the file stops before the data its container promises
    "corrupt",  # the data does not decode, or the stream states no frame rate or duration
    "unsupported_codec",  # a codec this FFmpeg build has no decoder for
    "unsupported_container",  # a video in a container not in VIDEO_CONTAINERS (AVI, FLV, GIF, ...)
    "too_large",  # more bytes than Limits.max_bytes
    "too_long",  # longer than Limits.max_seconds
    "too_many_pixels",  # width x height over Limits.max_pixels, from the header
]


class MediaError(Exception):
    """The video cannot be extracted: `kind` says which way (for the table's status), `reason` says
    what was found, for a person."""

    def __init__(self, kind: MediaErrorKind, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind: MediaErrorKind = kind
        self.reason = reason


class SeekableFile(Protocol):
    """What PyAV reads a file through (a file, BytesIO, an S3 reader that fetches ranges)."""

    def read(self, size: int = ..., /) -> bytes: ...
    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def tell(self) -> int: ...


@dataclass(frozen=True)
class Limits:
    """What a video may cost before it is decoded at all."""

    max_bytes: int = 5 * 1024**3  # an S3 single PUT's maximum: an upload cannot be larger
    max_seconds: float = 3 * 3600.0
    max_pixels: int = 4096 * 2160  # DCI 4K; a decoded frame of it is 13 MB in YUV 4:2:0


# The containers extracted from, tried with ranges here. AVI stores no presentation times (FFmpeg guesses
# them, and with B-frames puts frames out of order and a frame late); FLV's stated duration counts from
# 0, not from its first frame (2 frames in with B-frames), so the end check saw every FLV as truncated.
VIDEO_CONTAINERS: Final = frozenset({"mov", "mp4", "matroska", "webm", "mpegts"})
# The containers whose index lists the keyframes up front (MP4/MOV's sample table, Matroska's Cues).
INDEXED_CONTAINERS: Final = frozenset({"mov", "mp4", "matroska", "webm"})
# Top-level ISO BMFF (MP4, MOV) boxes a file may start with; such a file is checked for truncation.
_ISO_BOXES: Final = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})

# How a display matrix's rotation/flip shows the stored picture upright, by the signs of its a, b, c, d
# (matrix[0], [1], [3], [4]). Checked against the ffmpeg command line's autorotate for all eight
# orientations PyAV's VideoStream.set_display_rotation(degrees, hflip, vflip) writes.
_TRANSPOSE_BY_SIGNS: Final[dict[tuple[int, int, int, int], Image.Transpose | None]] = {
    (1, 0, 0, 1): None,
    (0, -1, 1, 0): Image.Transpose.ROTATE_90,  # PyAV rotation 90: turn 90° counter-clockwise
    (-1, 0, 0, -1): Image.Transpose.ROTATE_180,
    (0, 1, -1, 0): Image.Transpose.ROTATE_270,  # rotation -90, a phone held upright ("rotate=90" of old)
    (-1, 0, 0, 1): Image.Transpose.FLIP_LEFT_RIGHT,
    (1, 0, 0, -1): Image.Transpose.FLIP_TOP_BOTTOM,
    (0, 1, 1, 0): Image.Transpose.TRANSPOSE,
    (0, -1, -1, 0): Image.Transpose.TRANSVERSE,
}
_SWAPS_SIDES: Final = frozenset(
    {
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    }
)
_MIRRORS: Final = frozenset(
    {
        Image.Transpose.FLIP_LEFT_RIGHT,
        Image.Transpose.FLIP_TOP_BOTTOM,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    }
)


@dataclass(frozen=True)
class VideoFacts:
    """What the header (and the first frame) say about the video stream."""

    duration: Fraction  # seconds, the video stream's own where the container states it
    fps: Fraction  # the average frame rate: frames / duration as the container states it
    total_frames: int
    frames_estimated: bool  # the container did not count the frames: total_frames = round(duration x fps)
    width: int  # as displayed: after the rotation
    height: int
    rotation: int  # degrees counter-clockwise the picture is turned for display: 0, 90, 180, 270
    mirrored: bool  # the display matrix also flips the picture
    codec: str
    container: str  # FFmpeg's demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    time_base: Fraction  # the stream's tick, seconds
    start_pts: int  # the stream's first presentation time, ticks: time 0 of sampling
    duration_from_stream: bool  # duration is the video stream's (not the whole container's)

    @property
    def duration_seconds(self) -> float:
        return float(self.duration)

    @property
    def fps_float(self) -> float:
        return float(self.fps)


def frame_step(video_fps: Fraction | float, extract_fps: Fraction | float) -> int:
    """Source frames between two sampled frames: max(1, round(video_fps / extract_fps)), Python's round
    (halves to even), as the upstream extractor and the search compute it."""
    if extract_fps <= 0:
        raise ValueError(f"extract_fps must be positive, got {extract_fps}")
    return max(1, round(Fraction(video_fps) / Fraction(extract_fps)))


@dataclass(frozen=True)
class Sampling:
    """Which frames to sample: index i at time i x step / fps, for i in 0 .. count-1."""

    fps: Fraction
    step: int
    count: int

    def time(self, index: int) -> Fraction:
        """t_i, seconds from the stream's start."""
        return index * self.step / self.fps

    def ticks(self, index: int, time_base: Fraction) -> int:
        """T_i: t_i in ticks of `time_base`, rounded to the nearest tick (halves up)."""
        return _nearest(self.time(index) / time_base)


def plan_sampling(facts: VideoFacts, *, extract_fps: Fraction | float, max_frames: int) -> Sampling:
    """The sampling of a video: step from its frame rate, count = min(max_frames, #{i : i x step < F})."""
    if max_frames < 0:
        raise ValueError(f"max_frames must be >= 0, got {max_frames}")
    step = frame_step(facts.fps, extract_fps)
    within = -(-_frame_periods(facts.duration, facts.fps) // step)  # ceil(F / step)
    return Sampling(fps=facts.fps, step=step, count=min(max_frames, within))


def plan_pieces(
    sampling: Sampling,
    start: int,
    stop: int,
    keyframe_ticks: Sequence[int],
    time_base: Fraction,
    *,
    pieces: int,
    min_seconds: float,
) -> list[tuple[int, int]]:
    """Sampled frames [start, stop) cut into at most `pieces` runs that decode side by side, each on a
    decoder of its own with one thread: single-threaded decoders spend about 10 % less CPU than one
    decoder's frame threads, and as many of them keep every vCPU busy (bench/bench_extract.py).

    A piece [s, e) decodes from the keyframe at or before T_{s-1} (`Video.frames`), so a boundary is
    put at s = j + 1, T_j the first sample time at or after a keyframe: a piece decodes fewer than one
    sampling step of frames before its own. Boundaries fall as near as the keyframes allow to equal
    shares, and no piece is shorter than `min_seconds` (opening a decoder costs the header and one
    frame). No keyframes (or too short a run): one piece.
    """
    seconds_per_sample = sampling.step / sampling.fps
    count = min(pieces, int((stop - start) * seconds_per_sample // Fraction(min_seconds)))
    if count <= 1 or not keyframe_ticks:
        return [(start, stop)]
    shortest = math.ceil(Fraction(min_seconds) / seconds_per_sample)
    within = keyframe_ticks[
        bisect.bisect_left(keyframe_ticks, sampling.ticks(start, time_base)) : bisect.bisect_right(
            keyframe_ticks, sampling.ticks(stop, time_base)
        )
    ]  # sorted, as an index is: a range of a long video looks at its own keyframes only
    candidates: list[int] = []
    for ticks in within:
        j = max(0, math.floor(ticks * time_base / seconds_per_sample) - 1)
        while sampling.ticks(j, time_base) < ticks:
            j += 1
        if start + shortest <= j + 1 <= stop - shortest:
            candidates.append(j + 1)
    boundaries = [start]
    for share in range(1, count):
        ideal = start + (stop - start) * share / count
        later = [s for s in candidates if s >= boundaries[-1] + shortest]
        if later:
            boundaries.append(min(later, key=lambda s: abs(s - ideal)))
    return list(itertools.pairwise([*boundaries, stop]))


@dataclass(frozen=True)
class Cut:
    """A shot begins between sampled frames index-1 and index."""

    index: int
    time: Fraction  # seconds: the first frame of the shot sampled frame `index` shows
    score: float  # that frame's cut score


@dataclass(frozen=True)
class SampledFrame:
    """Sampled frame `index`: the picture on display at `time`, upright, RGB."""

    index: int
    time: Fraction  # t_i
    shown_time: Fraction  # the presentation time of the frame shown (<= t_i, within a tick)
    image: Image.Image
    cut: Cut | None  # the shot cut between sampled frames index-1 and index, if any


def open_video(
    file: SeekableFile, *, size: int | None = None, limits: Limits | None = None, decode_threads: int = 0
) -> Video:
    """The video in `file`, its facts checked against `limits` and its first frame decoded; `size` is the
    file's length in bytes if the caller knows it (else it is measured by seeking to the end).
    `decode_threads` 0 lets FFmpeg thread the decoder (frame and slice threads, one per core); 1 decodes
    on the calling thread only, as each of several pieces decoded side by side does (`plan_pieces`)."""
    return Video(file, size=size, limits=limits or Limits(), decode_threads=decode_threads)


def probe(file: SeekableFile, *, size: int | None = None, limits: Limits | None = None) -> VideoFacts:
    """The facts of the video in `file` (see `open_video`)."""
    with open_video(file, size=size, limits=limits) as video:
        return video.facts


class Video:
    """An open video: its facts, and its sampled frames by range. Not for use by two threads at once."""

    def __init__(self, file: SeekableFile, *, size: int | None, limits: Limits, decode_threads: int) -> None:
        self._size = _measure(file) if size is None else size
        if self._size == 0:
            raise MediaError("empty", "the file has no bytes")
        if self._size > limits.max_bytes:
            raise MediaError(
                "too_large", f"the file is {self._size:,} bytes; the limit is {limits.max_bytes:,}"
            )
        _check_iso_boxes(file, self._size)
        self._thumbnails = scenes.Thumbnails()
        self._pictures = VideoReformatter()  # one swscale context for all sampled frames
        self._container = _open_container(file)
        try:
            self._stream = _video_stream(self._container)
            _check_container(self._container)
            self.facts, self._transpose = self._read_facts(limits, decode_threads)
            self._decode_threads = decode_threads
        except BaseException:
            self._container.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def sampling(self, *, extract_fps: Fraction | float, max_frames: int) -> Sampling:
        return plan_sampling(self.facts, extract_fps=extract_fps, max_frames=max_frames)

    def keyframe_ticks(self) -> list[int]:
        """Where decoding can start: the keyframes the container's index lists, as presentation times in
        ticks from the stream's start; empty for a container with no index up front (MPEG-TS lists only
        the packets it has read, not keyframes).

        MP4 indexes by decode time, a constant reorder delay before presentation with B-frames (e.g. 2
        frames for x264's defaults); Matroska by presentation time. Both are put on the presentation
        clock by the first entry, which is the first frame's. An estimate is enough: a piece seeks to
        the keyframe at or before its own start (`frames`), wherever the estimate put the boundary
        (an open GOP's or an edit list's varying delay costs at most a keyframe interval of decoding).
        FFmpeg reads Matroska's index (Cues, often at the end of the file) at the first seek: hence one
        here (`frames` seeks before it decodes anyway).
        """
        if not set(self.facts.container.split(",")) & INDEXED_CONTAINERS:
            return []
        self._seek(0)
        entries = self._stream.index_entries
        if not entries:
            return []
        first = entries[0].timestamp  # the first frame's, at the stream's start
        return [entry.timestamp - first for entry in entries if entry.is_keyframe]

    def frames(
        self,
        sampling: Sampling,
        start: int = 0,
        stop: int | None = None,
        *,
        cut_threshold: float = scenes.DEFAULT_CUT_THRESHOLD,
        max_side: int = 0,
    ) -> Iterator[SampledFrame]:
        """Sampled frames start .. stop-1 (stop defaults to sampling.count), each with the cut before it.

        Every frame is decoded from the keyframe at or before t_{start-1} on (for the cut score); only
        the sampled ones become RGB, scaled in the same pass so their long side is at most `max_side`
        (0: full size; cheaper than converting at full size and resizing the picture after).

        Raises MediaError("truncated") when the data ends more than two frames before the stream's
        stated duration, rather than yielding the last frame for the missing times: a video indexed up
        to where its upload broke would look complete and silently miss its end. Frames already yielded
        are then to be discarded with the rest of the video.
        """
        stop = sampling.count if stop is None else min(stop, sampling.count)
        if not 0 <= start <= stop:
            raise ValueError(f"range [{start}, {stop}) is not within [0, {sampling.count})")
        return self._frames(sampling, start, stop, cut_threshold, max_side) if start < stop else iter(())

    # --- sampling ---

    def _frames(
        self, sampling: Sampling, start: int, stop: int, cut_threshold: float, max_side: int
    ) -> Iterator[SampledFrame]:
        first = max(start - 1, 0)
        time_base = self.facts.time_base
        index = first
        shown: VideoFrame | None = None  # the latest frame with pts <= T_index
        shown_thumb: scenes.Thumb | None = None
        cut: Cut | None = None  # the cut found so far in (T_{index-1}, T_index]
        for frame in self._decoded_from(sampling.ticks(first, time_base)):
            pts = self._pts(frame)
            while index < stop and sampling.ticks(index, time_base) < pts:
                if index >= start:
                    yield self._sample(sampling, index, frame if shown is None else shown, cut, max_side)
                index += 1
                cut = None
            if index >= stop:
                return
            if index >= start and index > 0 and shown is not None:  # a pair whose cut `index` reports
                thumb = self._thumbnails(frame)
                score = scenes.cut_score(
                    self._thumbnails(shown) if shown_thumb is None else shown_thumb, thumb
                )
                if score >= cut_threshold:
                    cut = Cut(index, self._seconds(pts), score)
                shown_thumb = thumb
            else:
                shown_thumb = None
            shown = frame
        self._check_complete(shown)
        assert shown is not None  # _check_complete raises when nothing decoded
        for rest in range(index, stop):
            if rest >= start:
                yield self._sample(sampling, rest, shown, cut, max_side)
            cut = None

    # --- opening ---

    def _read_facts(self, limits: Limits, decode_threads: int) -> tuple[VideoFacts, Image.Transpose | None]:
        """The facts, checked against `limits` from the header first, and how to turn frames upright."""
        stream, container = self._stream, self._container
        context = stream.codec_context
        if context is None:
            raise MediaError(
                "unsupported_codec", "this FFmpeg build has no decoder for the video stream's codec"
            )
        _check_pixels(context.width, context.height, limits)
        time_base = stream.time_base
        if not time_base:
            raise MediaError("corrupt", "the video stream states no time base")
        duration, from_stream = _duration(stream, container)
        if duration is None:
            raise MediaError("corrupt", "neither the video stream nor its container states a duration")
        if duration <= 0:
            raise MediaError("empty", "the video lasts 0 seconds")
        if duration > limits.max_seconds:
            raise MediaError(
                "too_long",
                f"the video lasts {float(duration):,.1f} s; the limit is {limits.max_seconds:g} s",
            )
        fps = stream.average_rate or stream.guessed_rate
        if not fps:
            raise MediaError("corrupt", "the video stream states no frame rate")
        context.thread_type = "AUTO"  # frame and slice threads: decoding is most of the work
        context.thread_count = decode_threads
        first = next(self._decode(), None)
        if first is None:
            raise MediaError("empty", "the video stream has no frame that decodes")
        _check_pixels(first.width, first.height, limits)  # in case the header said 0x0
        transpose = _transpose(first)
        width, height = first.width, first.height
        if transpose in _SWAPS_SIDES:
            width, height = height, width
        facts = VideoFacts(
            duration=duration,
            fps=Fraction(fps),
            total_frames=stream.frames or _frame_periods(duration, fps),
            frames_estimated=not stream.frames,
            width=width,
            height=height,
            rotation=first.rotation % 360,
            mirrored=transpose in _MIRRORS,
            codec=context.name,
            container=container.format.name,
            time_base=time_base,
            start_pts=stream.start_time or 0,
            duration_from_stream=from_stream,
        )
        return facts, transpose

    # --- decoding ---

    def _pts(self, frame: VideoFrame) -> int:
        """The frame's presentation time in ticks from the stream's start."""
        if frame.pts is None:
            raise MediaError("corrupt", "a decoded frame has no presentation time")
        return frame.pts - self.facts.start_pts

    def _seconds(self, ticks: int) -> Fraction:
        return ticks * self.facts.time_base

    def _sample(
        self, sampling: Sampling, index: int, frame: VideoFrame, cut: Cut | None, max_side: int
    ) -> SampledFrame:
        width, height = fit_within((frame.width, frame.height), max_side)
        rgb = self._pictures.reformat(
            frame,
            width,
            height,
            "rgb24",
            interpolation="AREA",
            src_color_range=frame.color_range,  # full-range (JPEG) YUV is not stretched again
            threads=self._decode_threads,  # a piece's 1: its own thread only (the pieces fill the vCPUs)
        )
        image = Image.fromarray(rgb.to_ndarray())
        if self._transpose is not None:
            image = image.transpose(self._transpose)
        return SampledFrame(index, sampling.time(index), self._seconds(self._pts(frame)), image, cut)

    def _decoded_from(self, target: int) -> Iterator[VideoFrame]:
        """Decoded frames from a keyframe whose pts is at or before `target` (ticks from the start) on.

        A backward seek finds a keyframe by the demuxer's index, which some demuxers keep by decode time
        or only approximately: MPEG-TS lands on the keyframe after the target (even for the stream's
        own start time), or near the end past the last keyframe, where nothing decodes. Then seek again
        earlier, doubling the distance; last, to the container's time 0, before any stream's start
        (MPEG-TS, whose streams start after 0, lands on its first keyframe only from there; some
        demuxers refuse a negative time outright).
        """
        back = math.ceil(1 / self.facts.time_base)  # a second
        at: int | None = target  # ticks from the start; None: the container's time 0
        while True:
            self._seek(at)
            frames = self._decode()
            first = next(frames, None)
            if at is None or (first is not None and self._pts(first) <= target):
                if first is not None:
                    yield first
                    yield from frames
                return
            frames.close()
            at = (at if first is None else min(at, self._pts(first))) - back
            at = None if at < 0 else at
            back *= 2

    def _seek(self, ticks: int | None) -> None:
        try:
            if ticks is None:
                self._container.seek(0, backward=True)
            else:
                self._container.seek(self.facts.start_pts + ticks, stream=self._stream, backward=True)
        except av.error.FFmpegError as error:
            raise MediaError("corrupt", f"cannot seek in the video: {error}") from None

    def _decode(self) -> Generator[VideoFrame]:
        """The stream's frames in presentation order, FFmpeg's errors as MediaError (the file object's own
        errors, e.g. a network failure of an S3 reader, pass through untouched: they are not the video's)."""
        data_end = 0  # where the last packet read ends in the file
        try:
            for packet in self._container.demux(self._stream):
                if packet.pos is not None and packet.pos >= 0:
                    data_end = max(data_end, packet.pos + packet.size)
                yield from packet.decode()
        except av.error.PatchWelcomeError as error:
            raise MediaError(
                "unsupported_codec", f"FFmpeg does not implement a feature it uses: {error}"
            ) from None
        except av.error.EOFError as error:
            raise MediaError("truncated", f"the data ends early: {error}") from None
        except av.error.FFmpegError as error:
            if data_end >= self._size:
                raise MediaError(
                    "truncated", f"the last packet runs to the end of the file: {error}"
                ) from None
            raise MediaError("corrupt", f"the video does not decode: {error}") from None

    def _check_complete(self, last: VideoFrame | None) -> None:
        """At the end of the data: did the stream reach (within two frames) the duration it states?"""
        if last is None:
            raise MediaError("truncated", "no frame decodes after seeking in the video")
        if not self.facts.duration_from_stream:  # the container's duration may be a longer audio track's
            return
        frame_ticks = last.duration or math.ceil(1 / (self.facts.fps * self.facts.time_base))
        reached = self._seconds(self._pts(last) + frame_ticks)
        if reached < self.facts.duration - 2 / self.facts.fps:
            raise MediaError(
                "truncated",
                f"the frames stop at {float(reached):.3f} s of the {float(self.facts.duration):.3f} s the "
                "video states",
            )


def _nearest(value: Fraction) -> int:
    """The nearest whole number, halves up, as FFmpeg rounds a time into ticks (AV_ROUND_NEAR_INF)."""
    return math.floor(value + Fraction(1, 2))


def _frame_periods(duration: Fraction, fps: Fraction) -> int:
    """F: the duration in frames at `fps`, to the nearest whole frame."""
    return _nearest(duration * fps)


def _measure(file: SeekableFile) -> int:
    here = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(here)
    return end


def _check_iso_boxes(file: SeekableFile, size: int) -> None:
    """An MP4/MOV whose top-level boxes run past the end of the file is truncated. FFmpeg cannot say so
    itself: cut before a trailing `moov` it opens with no streams at all, cut with `moov` first
    (faststart) it fails only at the first packet past the end."""
    file.seek(0)
    head = file.read(8)
    if len(head) < 8 or head[4:8] not in _ISO_BOXES:
        file.seek(0)
        return
    offset = 0
    while offset + 8 <= size:
        file.seek(offset)
        box_size, _ = struct.unpack(">I4s", file.read(8))
        if box_size == 1:  # a 64-bit size follows
            (box_size,) = struct.unpack(">Q", file.read(8))
        elif box_size == 0:  # the box runs to the end of the file
            break
        if box_size < 8:
            break  # not a box: leave it to FFmpeg
        if offset + box_size > size:
            file.seek(0)
            raise MediaError(
                "truncated",
                f"the MP4's top-level box at byte {offset:,} needs {offset + box_size:,} bytes; "
                f"the file has {size:,}",
            )
        offset += box_size
    file.seek(0)


def _open_container(file: SeekableFile) -> InputContainer:
    try:
        container = av.open(file, mode="r", metadata_errors="replace")
    except av.error.EOFError as error:
        raise MediaError("truncated", f"the file ends inside its header: {error}") from None
    except av.error.FFmpegError as error:
        raise MediaError("not_a_video", f"no video container format recognised: {error}") from None
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):  # FFmpeg opens a JPEG or PNG as a 1-frame "video"
        container.close()
        raise MediaError("not_a_video", f"FFmpeg reads it as a still image ({name})")
    return container


def _check_container(container: InputContainer) -> None:
    name = container.format.name
    if not set(name.split(",")) & VIDEO_CONTAINERS:
        raise MediaError(
            "unsupported_container",
            f"FFmpeg reads it as {name!r}; videos are read from MP4/MOV, Matroska/WebM and MPEG-TS",
        )


def _video_stream(container: InputContainer) -> VideoStream:
    """The first video stream that is not cover art (a picture attached to an audio file)."""
    if not container.streams:
        raise MediaError("empty", "the container holds no streams")
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = ", ".join(sorted({stream.type for stream in container.streams}))
    raise MediaError("no_video_stream", f"the container holds no video stream (only {kinds})")


def _duration(stream: VideoStream, container: InputContainer) -> tuple[Fraction | None, bool]:
    """The video stream's duration in seconds, and whether it is the stream's own: MP4 states it;
    Matroska only for the whole file (which may be a longer audio track's), though FFmpeg's and
    mkvmerge's muxers add a per-track DURATION tag ("00:01:02.500000000")."""
    if stream.duration and stream.time_base:
        return stream.duration * stream.time_base, True
    tag = stream.metadata.get("DURATION", "")
    hours, _, rest = tag.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return (int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds), True
    except ValueError:
        pass
    if container.duration:
        return Fraction(container.duration, av.time_base), len(container.streams) == 1
    return None, False


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise MediaError(
            "too_many_pixels",
            f"frames are {width}×{height} = {width * height:,} pixels; the limit is {limits.max_pixels:,}",
        )


def _transpose(frame: VideoFrame) -> Image.Transpose | None:
    """How to turn the frame upright, from its display matrix (FFmpeg attaches the container's to each
    decoded frame; PyAV's `frame.rotation` reads only the rotation, not a flip)."""
    for side in cast(SideDataContainer, frame.side_data):  # PyAV's stub types it as one SideData
        if side.type == SideDataType.DISPLAYMATRIX:
            matrix = struct.unpack("=9i", bytes(side))
            a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
            near = (
                (_sign(a), 0, 0, _sign(d)) if abs(a) >= abs(b) else (0, _sign(b), _sign(c), 0)
            )  # a quarter turn
            return _TRANSPOSE_BY_SIGNS.get(near)
    return None


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)
