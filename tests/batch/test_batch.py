"""The batch function on moto S3 with the tiny model: embed, skip, resume, fail per frame, SQS."""

from __future__ import annotations

import numpy as np
import pytest

from local.tiny_clip import PROJECTION_DIM
from tests.batch.conftest import FRAMES, VIDEO, Countdown, invoke, load_npy, packed, sqs_event
from tests.conftest import BUCKET, FakeLambdaContext
from tests.sample_images import frame_bytes


def test_a_video_is_embedded_frame_by_frame_and_packed(batch_app, clip_app, s3):
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert status == 200
    assert result["status"] == "complete"
    assert (result["total"], result["embedded"], result["skipped"], result["failed"]) == (7, 7, 0, [])
    assert result["packed_frames"] == 7
    frame_ids = sorted(key.rsplit("/", 1)[1].rsplit(".", 1)[0] for key in FRAMES)
    whole = packed(s3)
    assert whole.frame_ids == frame_ids
    assert whole.frame_keys == sorted(FRAMES)
    assert whole.vectors.dtype == np.float16
    assert whole.vectors.shape == (7, PROJECTION_DIM)
    assert whole.dim == PROJECTION_DIM
    assert whole.model == clip_app.service.embedder().model_id
    # every .npy: float16 (dim,), equal to the packed row and to the CLIP function's embedding
    status, clip = invoke(
        clip_app, {"mode": "image", "items": [f"s3://{BUCKET}/{key}" for key in sorted(FRAMES)]}
    )
    assert status == 200
    for row, (key, online) in enumerate(zip(sorted(FRAMES), clip["embeddings"], strict=True)):
        frame_id = key.rsplit("/", 1)[1].rsplit(".", 1)[0]
        cached = load_npy(s3, f"embeddings-cache/{VIDEO}/{frame_id}.npy")
        assert cached.dtype == np.float16
        assert cached.shape == (PROJECTION_DIM,)
        np.testing.assert_array_equal(cached, whole.vectors[whole.frame_ids.index(frame_id)])
        vector = cached.astype(np.float32)
        assert float(vector @ np.array(online)) / float(np.linalg.norm(vector)) >= 0.999, row


def test_running_twice_changes_nothing(batch_app, s3, puts):
    invoke(batch_app, {"video_id": VIDEO})
    first = packed(s3)
    puts.clear()
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert status == 200
    assert (result["status"], result["embedded"], result["skipped"]) == ("complete", 0, 7)
    assert list(puts) == []  # not even the packed object: searches keep their cached copy
    again = packed(s3)
    assert again.frame_ids == first.frame_ids
    np.testing.assert_array_equal(again.vectors, first.vectors)


def test_a_deadline_stops_cleanly_and_the_next_call_resumes(batch_app, s3, puts):
    # GIVEN an invocation whose time runs out after two batches of 3
    # THEN it is a function error (so Lambda retries an async event) that says what is left ...
    with pytest.raises(batch_app.UnfinishedVideos, match=f"{VIDEO}: 1 frames remaining, 0 failed"):
        invoke(batch_app, {"video_id": VIDEO}, Countdown(checks=2))
    assert len(packed(s3).frame_ids) == 6  # ... and everything finished so far is written
    # WHEN it is called again THEN it continues where it stopped
    _, second = invoke(batch_app, {"video_id": VIDEO})
    assert (second["status"], second["embedded"], second["skipped"]) == ("complete", 1, 6)
    npy_puts = {key: count for key, count in puts.items() if key.endswith(".npy")}
    assert len(npy_puts) == 7
    assert set(npy_puts.values()) == {1}  # no frame lost or embedded twice
    frame_ids = packed(s3).frame_ids
    assert len(frame_ids) == len(set(frame_ids)) == 7


def test_a_corrupt_frame_is_rejected_once_and_the_video_completes(batch_app, s3, puts):
    corrupt = f"frames/{VIDEO}/frame_000099.webp"
    s3.put_object(Bucket=BUCKET, Key=corrupt, Body=b"RIFF....WEBPVP8 garbage")
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (status, result["status"], result["embedded"], result["failed"]) == (200, "complete", 7, [])
    assert [entry["frame"] for entry in result["rejected"]] == [corrupt]
    assert "not a readable image" in result["rejected"][0]["error"]
    assert "frame_000099" not in packed(s3).frame_ids  # never listed without its vector
    assert [r.key for r in packed(s3).rejected] == [corrupt]  # recorded ...
    assert packed(s3).covered_frames == 8
    puts.clear()
    reads: list[str] = []
    batch_app.service.s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"])
    )
    status, again = invoke(batch_app, {"video_id": VIDEO})
    assert (status, again["status"], again["embedded"], again["skipped"]) == (200, "complete", 0, 8)
    assert corrupt not in reads  # ... so it is not tried again
    assert list(puts) == []
    # until the frame changes
    s3.put_object(Bucket=BUCKET, Key=corrupt, Body=frame_bytes(99))
    status, fixed = invoke(batch_app, {"video_id": VIDEO})
    assert (fixed["embedded"], fixed["rejected"]) == (1, [])
    assert len(packed(s3).frame_ids) == 8


def test_other_files_next_to_frames_are_reported_not_embedded(batch_app, s3):
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/manifest.json", Body=b"{}")
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (status, result["status"], result["ignored"]) == (
        200,
        "complete",
        [f"frames/{VIDEO}/manifest.json"],
    )


def test_explicit_frames_only_and_foreign_keys_fail_per_frame(batch_app, s3):
    frames = [
        f"frames/{VIDEO}/frame_000000.webp",
        f"s3://{BUCKET}/frames/{VIDEO}/frame_000002.jpg",
        "s3://someone-else/frames/x/frame_000001.webp",
        "frames/other-video/frame_000001.webp",
        f"frames/{VIDEO}/missing.webp",
        7,
    ]
    status, result = invoke(batch_app, {"video_id": VIDEO, "frames": frames})
    assert status == 200
    assert result["embedded"] == 2
    assert result["status"] == "complete"  # requests for what can never be embedded are not retried
    errors = {entry["frame"]: entry["error"] for entry in result["rejected"]}
    assert "bucket 'someone-else' is not allowed" in errors["s3://someone-else/frames/x/frame_000001.webp"]
    assert "not a frame of this video" in errors["frames/other-video/frame_000001.webp"]
    assert "does not exist" in errors[f"frames/{VIDEO}/missing.webp"]
    assert "must be a key string" in errors["7"]
    assert packed(s3).frame_ids == ["frame_000000", "frame_000002"]


def test_force_recomputes(batch_app, s3, puts):
    invoke(batch_app, {"video_id": VIDEO})
    puts.clear()
    status, result = invoke(batch_app, {"video_id": VIDEO, "force": True})
    assert (status, result["embedded"], result["skipped"]) == (200, 7, 0)
    assert sum(1 for key in puts if key.endswith(".npy")) == 7


def test_frames_cached_by_the_clip_function_count_as_cached(batch_app, clip_app, s3):
    key = f"frames/{VIDEO}/frame_000000.webp"
    status, _ = invoke(clip_app, {"mode": "image", "items": [f"s3://{BUCKET}/{key}"], "cache": True})
    assert status == 200
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (result["embedded"], result["skipped"]) == (6, 1)
    assert len(packed(s3).frame_ids) == 7


def test_a_cache_from_another_model_is_recomputed(batch_app, s3):
    s3.put_object(
        Bucket=BUCKET,
        Key=f"embeddings-cache/{VIDEO}/frame_000000.npy",
        Body=b"x",
        Metadata={"model": "another/model"},
    )
    status, result = invoke(batch_app, {"video_id": VIDEO, "frames": [f"frames/{VIDEO}/frame_000000.webp"]})
    assert (status, result["embedded"], result["skipped"]) == (200, 1, 0)


def test_an_unknown_video_is_a_404(batch_app):
    status, body = invoke(batch_app, {"video_id": "no-such-video"})
    assert status == 404
    assert (
        body["error"]
        == "no frames under frames/no-such-video/ (unknown video, or its frames are not extracted yet)"
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{oops", "not valid JSON"),
        (17, "a request must be an object"),
        ({}, "video_id must be a string"),
        ({"video_id": 5}, "video_id must be a string"),
        ({"video_id": "../etc"}, "video_id must be a string of letters"),
        ({"video_id": VIDEO, "frames": "frames/x.webp"}, "frames must be a non-empty list"),
        ({"video_id": VIDEO, "frames": []}, "frames must be a non-empty list"),
        ({"video_id": VIDEO, "force": "yes"}, "force must be true or false"),
        ({"video_id": VIDEO, "mode": "image"}, "unknown field(s) mode"),
        ({"video_id": VIDEO, "removed": 1}, "removed must be true or false"),
        ({"video_id": VIDEO, "removed": True, "frames": ["frames/x.webp"]}, "for the whole video"),
    ],
)
def test_malformed_requests_are_400(batch_app, event, message):
    status, body = invoke(batch_app, event)
    assert status == 400
    assert message in body["error"]


def test_a_list_of_requests_reports_each(batch_app):
    status, body = invoke(batch_app, [{"video_id": VIDEO}, {"video_id": "nothing-here"}, {"video": 1}])
    assert status == 200
    first, second, third = body["results"]
    assert first["status"] == "complete"
    assert (second["status"], second["statusCode"]) == ("error", 404)
    assert (third["status"], third["statusCode"]) == ("error", 400)


def test_sqs_reports_partial_batch_failures(batch_app, s3):
    event = sqs_event({"video_id": VIDEO}, {"video_id": "unknown"}, "not json", [{"video_id": VIDEO}])
    result = batch_app.handler(event, FakeLambdaContext(function_name="clip-batch-embed"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert len(packed(s3).frame_ids) == 7


def test_an_unfinished_video_goes_back_to_the_queue(batch_app):
    result = batch_app.handler(sqs_event({"video_id": VIDEO}), Countdown(checks=1))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
