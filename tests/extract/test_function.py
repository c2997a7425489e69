"""The extraction function end to end on moto: an upload's event becomes frames and a `processed`
row (the upstream's contract); bad files end `failed`; long videos run in ranges and equal one run;
replaced and deleted uploads leave no trace."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from PIL import Image

from clipsearch.layout import extracted_frame_key, frames_prefix, upload_video_id
from local.sample_video import Format, Shot, audio_only, bicycle, boat, encode_shots, street
from tests.conftest import BUCKET, REGION, TABLE, FakeLambdaContext
from tests.extract.conftest import FPS, SHOTS, drain, run, s3_event, upload
from tests.extract.test_failures import with_sample_entry

pytestmark = pytest.mark.unit


def row(video_id: str) -> dict[str, Any] | None:
    item = boto3.resource("dynamodb", region_name=REGION).Table(TABLE).get_item(Key={"video_id": video_id})
    return item.get("Item")


def frame_keys(s3: Any, video_id: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=frames_prefix(video_id))
    return [item["Key"] for item in listing.get("Contents", [])]


def test_an_upload_becomes_the_upstreams_frames_and_processed_row(extract_handler, s3, video):
    app = extract_handler()
    event = upload(s3, "uploads/holiday video.mp4", video)
    assert run(app, event) == {"batchItemFailures": []}

    etag = event["Records"][0]["s3"]["object"]["eTag"]
    video_id = upload_video_id(BUCKET, "uploads/holiday video.mp4", etag)  # the key arrived URL-encoded
    found = row(video_id)
    assert found is not None
    assert found["status"] == "processed"
    assert found["original_key"] == "uploads/holiday video.mp4"
    assert found["frames_prefix"] == frames_prefix(video_id)
    assert (found["frames_count"], found["total_frames"], found["frame_step"]) == (6, 60, 10)
    assert (found["video_fps"], found["extract_fps"], found["duration_seconds"]) == (10, 1, 6)
    assert (found["scenes_count"], found["cut_frames"]) == (3, [2, 4])
    assert found["processing_started_at"] <= found["processing_finished_at"]
    assert "error" not in found
    assert not any(name.startswith("extract_range") for name in found)
    assert frame_keys(s3, video_id) == [extracted_frame_key(video_id, i) for i in range(6)]
    first = s3.get_object(Bucket=BUCKET, Key=extracted_frame_key(video_id, 0))
    assert first["ContentType"] == "image/webp"
    assert Image.open(io.BytesIO(first["Body"].read())).size == (160, 90)


def test_a_duplicate_event_does_nothing_more(extract_handler, s3, video):
    app = extract_handler()
    event = upload(s3, "uploads/a.mp4", video)
    run(app, event)
    body = app.handler(event, FakeLambdaContext(function_name="clip-extract"))  # a direct invoke of it
    assert '"status":"processed"' not in body["body"]
    assert '"status":"done"' in body["body"]


def test_an_event_for_an_older_version_is_stale(extract_handler, s3, video):
    app = extract_handler()
    old = upload(s3, "uploads/a.mp4", video)
    upload(s3, "uploads/a.mp4", encode_shots(SHOTS[:1], fps=FPS))
    assert run(app, old) == {"batchItemFailures": []}
    old_id = upload_video_id(BUCKET, "uploads/a.mp4", old["Records"][0]["s3"]["object"]["eTag"])
    assert row(old_id) is None
    assert frame_keys(s3, old_id) == []


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"hello, this is not a video\n" * 100, "not_a_video"),
        (audio_only(1.0), "no_video_stream"),
    ],
    ids=["zero-length", "text", "audio-only"],
)
def test_a_file_that_is_not_a_usable_video_ends_failed_with_the_reason(extract_handler, s3, data, kind):
    app = extract_handler()
    event = upload(s3, "uploads/bad.mp4", data)
    assert run(app, event) == {"batchItemFailures": []}  # the file's fault: not retried
    video_id = upload_video_id(BUCKET, "uploads/bad.mp4", event["Records"][0]["s3"]["object"]["eTag"])
    found = row(video_id)
    assert found is not None
    assert found["status"] == "failed"
    assert found["error"].startswith(f"{kind}: ")
    assert frame_keys(s3, video_id) == []
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="embeddings-cache/").get("KeyCount") == 0


def test_a_truncated_file_and_an_unsupported_codec_fail(extract_handler, s3, video):
    app = extract_handler()
    broken = {
        "uploads/cut.mp4": video[: len(video) * 6 // 10],
        "uploads/evc.mp4": with_sample_entry(video, b"evc1"),  # MPEG-5 EVC: no decoder in the build
    }
    for key, data in broken.items():
        run(app, upload(s3, key, data))
    statuses = {}
    for key in broken:
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
        statuses[key] = row(upload_video_id(BUCKET, key, etag))["error"].split(":")[0]  # type: ignore[index]
    assert statuses == {"uploads/cut.mp4": "truncated", "uploads/evc.mp4": "unsupported_codec"}


def test_limits_come_from_the_configuration(extract_handler, s3, video):
    app = extract_handler(EXTRACT_MAX_SECONDS="5", EXTRACT_MAX_UPLOAD_MB="1")
    event = upload(s3, "uploads/long.mp4", video)
    run(app, event)
    video_id = upload_video_id(BUCKET, "uploads/long.mp4", event["Records"][0]["s3"]["object"]["eTag"])
    assert row(video_id)["error"] == "too_long: the video lasts 6.0 s; the limit is 5 s"  # type: ignore[index]
    event = upload(s3, "uploads/big.mp4", video + b"\0" * (1024 * 1024))
    run(app, event)
    video_id = upload_video_id(BUCKET, "uploads/big.mp4", event["Records"][0]["s3"]["object"]["eTag"])
    assert row(video_id)["error"].startswith("too_large: ")  # type: ignore[index]


def test_a_long_video_runs_in_ranges_that_equal_one_run(extract_handler, s3, ingest_queue, video):
    sqs = boto3.client("sqs", region_name=REGION)
    whole = extract_handler()
    one = upload(s3, "uploads/one.mp4", video)
    run(whole, one)
    one_id = upload_video_id(BUCKET, "uploads/one.mp4", one["Records"][0]["s3"]["object"]["eTag"])

    ranged = extract_handler(EXTRACT_RANGE_SECONDS="2")  # 2 sampled frames a range: 3 ranges
    split = upload(s3, "uploads/split.mp4", video)
    run(ranged, split)
    split_id = upload_video_id(BUCKET, "uploads/split.mp4", split["Records"][0]["s3"]["object"]["eTag"])
    assert row(split_id)["status"] == "processing"  # type: ignore[index]
    ranges = drain(sqs, ingest_queue)
    assert [body["extract_range"]["start"] for body in ranges] == [0, 2, 4]
    run(ranged, ranges[2], ranges[0])  # in any order, side by side
    assert row(split_id)["status"] == "processing"  # type: ignore[index]
    run(ranged, ranges[0])  # a retried range writes the same again
    run(ranged, ranges[1])

    done, single = row(split_id), row(one_id)
    assert done is not None
    assert single is not None
    for name in (
        "status",
        "frames_count",
        "total_frames",
        "video_fps",
        "frame_step",
        "cut_frames",
        "scenes_count",
    ):
        assert done[name] == single[name], name
    assert not any(name.startswith("extract_range") for name in done)
    frames = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in frame_keys(s3, split_id)]
    expected = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in frame_keys(s3, one_id)]
    assert frames == expected  # frame for frame, byte for byte


def twelve_seconds() -> bytes:
    """Three shots of 4 s at 10 fps, a keyframe every second: three pieces of 4 s for three decoders."""
    return encode_shots([Shot(bicycle, 40), Shot(boat, 40), Shot(street, 40)], fps=FPS, fmt=Format(gop=FPS))


def test_pieces_decoded_side_by_side_equal_one_decoder(extract_handler, s3):
    """12 s, cuts at 4 s and 8 s, a keyframe every second: three decoders take 4 s each, and the cuts at
    the pieces' first frames are found by the piece that starts there."""
    data = encode_shots([Shot(bicycle, 40), Shot(boat, 40), Shot(street, 40)], fps=FPS, fmt=Format(gop=FPS))
    single = extract_handler()
    one = upload(s3, "uploads/one.mp4", data)
    run(single, one)
    one_id = upload_video_id(BUCKET, "uploads/one.mp4", one["Records"][0]["s3"]["object"]["eTag"])

    pieces = extract_handler(EXTRACT_DECODERS="3")
    opened = []
    open_upload = pieces.service._open

    def recording(upload: Any, *, decode_threads: int = 0) -> Any:
        opened.append(decode_threads)
        return open_upload(upload, decode_threads=decode_threads)

    pieces.service._open = recording
    side = upload(s3, "uploads/side.mp4", data)
    run(pieces, side)
    side_id = upload_video_id(BUCKET, "uploads/side.mp4", side["Records"][0]["s3"]["object"]["eTag"])

    assert opened == [0, 1, 1, 1]  # the facts, then a single-threaded decoder per piece
    done, expected = row(side_id), row(one_id)
    assert done is not None
    assert expected is not None
    assert (done["status"], done["cut_frames"]) == ("processed", [4, 8])
    for name in ("frames_count", "cut_frames", "scenes_count"):
        assert done[name] == expected[name], name
    frames = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in frame_keys(s3, side_id)]
    assert frames == [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in frame_keys(s3, one_id)]
    assert len(frames) == 12


def test_a_new_version_supersedes_the_old_video_and_a_deletion_removes_it(
    extract_handler, s3, work_queue, video
):
    sqs = boto3.client("sqs", region_name=REGION)
    app = extract_handler()
    first = upload(s3, "uploads/a.mp4", video)
    other = upload(s3, "uploads/other.mp4", video)
    run(app, first, other)
    first_id = upload_video_id(BUCKET, "uploads/a.mp4", first["Records"][0]["s3"]["object"]["eTag"])
    other_id = upload_video_id(BUCKET, "uploads/other.mp4", other["Records"][0]["s3"]["object"]["eTag"])
    drain(sqs, work_queue)

    second = upload(s3, "uploads/a.mp4", encode_shots(SHOTS[:2], fps=FPS))
    run(app, second)
    second_id = upload_video_id(BUCKET, "uploads/a.mp4", second["Records"][0]["s3"]["object"]["eTag"])
    assert row(first_id) is None
    assert frame_keys(s3, first_id) == []
    assert row(second_id)["frames_count"] == 4  # type: ignore[index]
    assert {"video_id": first_id, "removed": True} in drain(sqs, work_queue)  # batch empties its cache

    s3.delete_object(Bucket=BUCKET, Key="uploads/a.mp4")
    run(app, s3_event("ObjectRemoved:Delete", "uploads/a.mp4"))
    assert row(second_id) is None
    assert frame_keys(s3, second_id) == []
    assert {"video_id": second_id, "removed": True} in drain(sqs, work_queue)
    assert row(other_id)["status"] == "processed"  # type: ignore[index]
    assert len(frame_keys(s3, other_id)) == 6


def test_an_upload_replaced_during_its_run_keeps_nothing(extract_handler, s3, video, monkeypatch):
    app = extract_handler()
    event = upload(s3, "uploads/a.mp4", video)
    video_id = upload_video_id(BUCKET, "uploads/a.mp4", event["Records"][0]["s3"]["object"]["eTag"])
    write = app.service._write_frame

    def replace_midway(video_id: str, frame: Any) -> None:
        write(video_id, frame)
        if frame.index == 3:
            s3.put_object(Bucket=BUCKET, Key="uploads/a.mp4", Body=b"a new version")

    monkeypatch.setattr(app.service, "_write_frame", replace_midway)
    run(app, event)
    assert row(video_id) is None
    assert frame_keys(s3, video_id) == []


def test_a_range_that_cannot_finish_before_the_deadline_is_retried(extract_handler, s3, video):
    app = extract_handler()
    event = upload(s3, "uploads/a.mp4", video)
    failures = run(app, event, remaining_ms=10_000)["batchItemFailures"]
    assert failures == [{"itemIdentifier": "m0"}]
    video_id = upload_video_id(BUCKET, "uploads/a.mp4", event["Records"][0]["s3"]["object"]["eTag"])
    assert row(video_id)["status"] == "processing"  # type: ignore[index]
    assert run(app, event)["batchItemFailures"] == []  # the failed run let go of its claim
    assert row(video_id)["status"] == "processed"  # type: ignore[index]


def test_events_of_another_bucket_and_unknown_shapes_are_refused(extract_handler, s3):
    app = extract_handler()
    foreign = s3_event("ObjectCreated:Put", "uploads/a.mp4", etag="x")
    foreign["Records"][0]["s3"]["bucket"]["name"] = "someone-else"
    assert run(app, foreign, {"hello": 1}, "not json") == {
        "batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }
    assert run(app, {"Service": "Amazon S3", "Event": "s3:TestEvent"}) == {"batchItemFailures": []}
