"""Every way a file can fail to be a usable video ends in one MediaError kind, up front where it can."""

from __future__ import annotations

import io
import random
import struct

import av
import pytest
from PIL import Image

from clipsearch.extract.media import Limits, MediaError, open_video
from local.sample_video import Format, Shot, audio_only, bicycle, boat, encode_shots

pytestmark = pytest.mark.unit

SHOTS = [Shot(bicycle, 45), Shot(boat, 45)]


@pytest.fixture(scope="module")
def mp4() -> bytes:
    """3 s of H.264 in an MP4 whose index (moov) is written last, as by default."""
    return encode_shots(SHOTS)


@pytest.fixture(scope="module")
def faststart() -> bytes:
    return encode_shots(SHOTS, fmt=Format(faststart=True))


def opening(data: bytes, **options: object) -> MediaError:
    """The error opening the video raises (before any frame is asked for)."""
    with pytest.raises(MediaError) as raised:
        open_video(io.BytesIO(data), **options)  # type: ignore[arg-type]
    return raised.value


def sampling(data: bytes) -> MediaError:
    """The error sampling every frame of a video that opened raises."""
    with open_video(io.BytesIO(data)) as video, pytest.raises(MediaError) as raised:
        list(video.frames(video.sampling(extract_fps=30, max_frames=10_000)))
    return raised.value


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def with_box_size(data: bytes, box: bytes, size: int) -> bytes:
    """`data` with the size field of its top-level `box` replaced."""
    at = data.index(box) - 4
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]


def with_sample_entry(data: bytes, codec_tag: bytes) -> bytes:
    """An MP4 whose video sample entry claims another codec (the data stays H.264)."""
    at = data.index(b"avc1", data.index(b"stsd"))
    return data[:at] + codec_tag + data[at + 4 :]


@pytest.mark.parametrize(
    "data",
    [random.Random(1).randbytes(5000), b"not a video, just words\n" * 40, jpeg()],
    ids=["random-bytes", "text", "jpeg"],
)
def test_what_is_not_a_video_container(data):
    assert opening(data).kind == "not_a_video"


@pytest.mark.parametrize("container", ["avi", "flv"])
def test_avi_and_flv_are_unsupported_containers(container):
    error = opening(encode_shots(SHOTS, fmt=Format(container=container)))
    assert (error.kind, error.reason) == (
        "unsupported_container",
        f"FFmpeg reads it as {container!r}; videos are read from MP4/MOV, Matroska/WebM and MPEG-TS",
    )


def test_audio_only_has_no_video_stream():
    error = opening(audio_only())
    assert (error.kind, error.reason) == (
        "no_video_stream",
        "the container holds no video stream (only audio)",
    )


def test_zero_bytes_is_empty():
    assert opening(b"").kind == "empty"


def test_an_mp4_with_no_frames_is_empty():
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 36
        out.start_encoding()  # a header and an index of nothing: FFmpeg's muxer writes no track at all
    assert opening(buffer.getvalue()).kind == "empty"


def test_an_mp4_cut_short_with_its_index_at_the_end_is_truncated(mp4):
    # FFmpeg itself opens it as a container with no streams.
    error = opening(mp4[: len(mp4) * 6 // 10])
    assert error.kind == "truncated"
    assert "top-level box" in error.reason


def test_an_mp4_cut_short_with_its_index_first_is_truncated(faststart):
    assert faststart.index(b"moov") < faststart.index(b"mdat")
    assert opening(faststart[: len(faststart) * 6 // 10]).kind == "truncated"


def test_a_cut_short_mp4_whose_data_box_claims_the_rest_of_the_file_fails_while_decoding(faststart):
    # Size 0: "to the end of the file", so the boxes cannot tell; the frames stop early.
    cut = with_box_size(faststart, b"mdat", 0)[: len(faststart) * 6 // 10]
    assert sampling(cut).kind == "truncated"


def test_a_webm_cut_short_is_truncated_when_its_frames_stop_early():
    webm = encode_shots(SHOTS, fmt=Format(codec="vp9"))
    error = sampling(webm[: len(webm) * 6 // 10])
    assert error.kind == "truncated"
    assert "of the 3.000 s the video states" in error.reason


def test_garbage_in_the_first_frame_is_corrupt_up_front(mp4):
    start = mp4.index(b"mdat") + 200
    assert opening(mp4[:start] + random.Random(2).randbytes(1000) + mp4[start + 1000 :]).kind == "corrupt"


def test_garbage_in_the_middle_of_the_data_is_corrupt_while_decoding(mp4):
    start = (mp4.index(b"mdat") + mp4.index(b"moov")) // 2
    assert sampling(mp4[:start] + random.Random(2).randbytes(1000) + mp4[start + 1000 :]).kind == "corrupt"


@pytest.mark.parametrize("codec_tag", [b"evc1", b"zzzz"], ids=["mpeg5-evc-no-decoder", "unknown-fourcc"])
def test_a_codec_without_a_decoder_is_unsupported(mp4, codec_tag):
    # MPEG-5 EVC has a codec id in FFmpeg but its decoder (libxevd) is not in PyAV's build.
    assert opening(with_sample_entry(mp4, codec_tag)).kind == "unsupported_codec"


def test_h264_data_labelled_hevc_is_corrupt(mp4):
    assert opening(with_sample_entry(mp4, b"hvc1")).kind == "corrupt"  # HEVC's decoder rejects avcC


def test_limits_are_checked_from_the_header(mp4):
    too_long = opening(mp4, limits=Limits(max_seconds=2.5))
    assert (too_long.kind, too_long.reason) == ("too_long", "the video lasts 3.0 s; the limit is 2.5 s")
    assert opening(mp4, size=6 * 1024**3).kind == "too_large"
    assert opening(mp4, limits=Limits(max_bytes=len(mp4) - 1)).kind == "too_large"
    too_many = opening(mp4, limits=Limits(max_pixels=160 * 90 - 1))
    assert (too_many.kind, too_many.reason) == (
        "too_many_pixels",
        "frames are 160×90 = 14,400 pixels; the limit is 14,399",
    )


def test_within_the_limits_it_opens(mp4):
    limits = Limits(max_bytes=len(mp4), max_seconds=3.0, max_pixels=160 * 90)
    with open_video(io.BytesIO(mp4), limits=limits) as video:
        assert video.facts.duration == 3


class BrokenReader(io.BytesIO):
    """A reader that fails, as an S3 reader does when the network does, past a byte offset."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, size: int | None = -1, /) -> bytes:
        if (
            self.tell() + (size if size is not None and size >= 0 else len(self.getbuffer()))
            > self.fail_after
        ):
            raise ConnectionError("connection reset by peer")
        return super().read(size)


def test_the_readers_own_errors_pass_through_untouched(mp4):
    with pytest.raises(ConnectionError, match="reset by peer"):
        open_video(BrokenReader(mp4, fail_after=100))
