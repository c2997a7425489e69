"""Batch when frames change, runs overlap, and S3 fails (issue #11): nothing lost, nothing final
that is not finished, nothing retried forever that can never succeed."""

from __future__ import annotations

import io

import numpy as np
import pytest

from clipsearch.batch.request import VideoRequest, VideoResult
from clipsearch.batch.service import BatchService
from clipsearch.cache.store import PackedVideo
from tests.batch.conftest import FRAMES, VIDEO, invoke, packed, sqs_event
from tests.conftest import BUCKET, FakeLambdaContext
from tests.faults import Outage
from tests.sample_images import frame_bytes


class Plenty:
    def remaining_seconds(self) -> float:
        return 600.0


def test_two_overlapping_runs_never_lose_a_packed_frame(batch_app, s3):
    # GIVEN run B, started on two frames, whose packed write comes after run A packed all seven
    run_a = BatchService(
        settings=batch_app.settings, s3=s3, queue=batch_app.work_queue, embedder=batch_app.service.embedder
    )
    done: list[VideoResult] = []

    def run_a_first() -> None:
        if not done:
            done.append(run_a.run(VideoRequest(VIDEO, None, force=False), Plenty(), run_id="run-a"))

    batch_app.service.s3.meta.events.register(
        "provide-client-params.s3.PutObject",
        lambda params, **_: run_a_first() if params["Key"].endswith("packed.npz") else None,
    )
    two = [f"frames/{VIDEO}/frame_000000.webp", f"frames/{VIDEO}/frame_000001.webp"]
    status, b = invoke(batch_app, {"video_id": VIDEO, "frames": two})
    # THEN B's conditional write fails, B reads A's object again and merges: all seven stay
    assert (status, b["status"]) == (200, "complete")
    assert done[0].packed_frames == 7
    assert b["packed_frames"] == 7
    assert len(packed(s3).frame_ids) == 7


def test_a_repack_reflects_frames_exactly(batch_app, s3):
    invoke(batch_app, {"video_id": VIDEO})
    gone = f"frames/{VIDEO}/frame_000000.webp"
    s3.delete_object(Bucket=BUCKET, Key=gone)
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000007.webp", Body=frame_bytes(70))
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (status, result["embedded"], result["skipped"]) == (200, 1, 6)
    assert gone not in packed(s3).frame_keys
    assert len(packed(s3).frame_ids) == 7


def test_a_frame_deleted_between_list_and_get_is_left_out(batch_app, s3):
    Outage(batch_app.service.s3, "GetObject", "NoSuchKey", 404, matching="frame_000003")
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (status, result["status"], result["embedded"]) == (200, "complete", 6)
    assert "frame_000003" not in packed(s3).frame_ids


@pytest.mark.parametrize(
    ("code", "http", "says"),
    [
        ("InternalError", 500, "S3 error InternalError"),
        ("SlowDown", 503, "S3 error SlowDown"),
        # batch may list frames/, so S3 answers 404 for a missing frame: a 403 is a real denial
        ("AccessDenied", 403, "access denied"),
    ],
)
def test_a_frame_s3_cannot_serve_leaves_the_video_unfinished_and_retried(batch_app, s3, code, http, says):
    outage = Outage(batch_app.service.s3, "GetObject", code, http, matching="frame_000004", times=1)
    with pytest.raises(batch_app.UnfinishedVideos, match=f"1 failed .*{says}"):
        invoke(batch_app, {"video_id": VIDEO})
    assert outage.calls == 1
    assert len(packed(s3).frame_ids) == 6  # what is done is searchable meanwhile
    status, result = invoke(batch_app, {"video_id": VIDEO})  # Lambda's retry
    assert (status, result["status"], result["embedded"], result["skipped"]) == (200, "complete", 1, 6)


def test_a_failed_cache_write_leaves_the_video_unfinished(batch_app, s3):
    Outage(batch_app.service.s3, "PutObject", "InternalError", 500, matching="frame_000002.npy", times=1)
    with pytest.raises(batch_app.UnfinishedVideos, match="cache write failed"):
        invoke(batch_app, {"video_id": VIDEO})
    assert "frame_000002" not in packed(s3).frame_ids
    assert invoke(batch_app, {"video_id": VIDEO})[1]["status"] == "complete"


def test_permanent_frame_problems_complete_the_video_and_the_message(batch_app, s3):
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000001.png", Body=frame_bytes(11, "PNG"))
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/thumbs/frame_000001.webp", Body=frame_bytes(12))
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000050.webp", Body=b"not an image")
    result = batch_app.handler(sqs_event({"video_id": VIDEO}), FakeLambdaContext(function_name="b"))
    assert result == {"batchItemFailures": []}  # the message is done, never redelivered
    whole = packed(s3)
    assert len(whole.frame_ids) == 7
    assert sorted(r.key.rsplit("/", 1)[1] for r in whole.rejected) == [
        "frame_000001.png",
        "frame_000050.webp",
    ]
    assert "also names" in next(r.error for r in whole.rejected if r.key.endswith(".png"))
    assert whole.covered_frames == len(FRAMES) + 2  # the sub-folder file is not a frame at all
    _, again = invoke(batch_app, {"video_id": VIDEO})
    assert again["ignored"] == [f"frames/{VIDEO}/thumbs/frame_000001.webp"]
    assert (again["embedded"], again["failed"]) == (0, [])


@pytest.mark.parametrize("damage", [b"truncated zip", b"PK\x03\x04" + b"\0" * 40])
def test_a_damaged_packed_object_is_rebuilt_without_force(batch_app, s3, damage):
    invoke(batch_app, {"video_id": VIDEO})
    s3.put_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/packed.npz", Body=damage)
    status, result = invoke(batch_app, {"video_id": VIDEO})
    assert (status, result["status"], result["embedded"], result["skipped"]) == (200, "complete", 0, 7)
    assert len(packed(s3).frame_ids) == 7
    assert np.isfinite(packed(s3).vectors.astype(np.float32)).all()


def test_a_packed_object_written_before_format_3_still_reads(batch_app, s3):
    invoke(batch_app, {"video_id": VIDEO})
    body = s3.get_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/packed.npz")["Body"].read()
    with np.load(io.BytesIO(body), allow_pickle=False) as archive:
        fields = {name: archive[name] for name in archive.files if name not in ("listing", "unmet_count")}
    fields["format_version"] = np.int32(2)
    older = io.BytesIO()
    np.savez(older, **fields)
    read = PackedVideo.from_bytes(older.getvalue())
    assert (read.listing, read.unmet_count, len(read.frame_ids)) == ("", None, len(FRAMES))
    written = packed(s3)  # and a run records the frames/ listing it packed
    assert (len(written.listing), written.unmet_count) == (64, None)
