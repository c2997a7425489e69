"""The metrics the CLIP and batch handlers emit (the search handler's: tests/search/test_search.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from tests.conftest import BUCKET, FakeLambdaContext
from tests.emf import emitted


def test_clip_counts_items_errors_latency_and_each_outcome(clip_app, capsys, monkeypatch):
    monkeypatch.setattr(cold_start, "is_cold_start", True)  # as in a new container
    context = FakeLambdaContext()
    clip_app.handler({"items": ["a dog", ""]}, context)
    first = emitted(capsys)
    assert first["ColdStart"] == 1
    assert (first["Requests"], first["Items"], first["ItemErrors"]) == (1, 2, 1)
    assert first["Latency"] > 0
    clip_app.handler({"items": []}, context)
    refused = emitted(capsys)
    assert refused["RefusedRequests"] == 1
    assert "Requests" not in refused
    assert "ColdStart" not in refused  # once per container


def test_an_unexpected_failure_is_counted_and_answered_500(clip_app, capsys, monkeypatch):
    def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(clip_app.service, "handle", broken)
    result = clip_app.handler({"items": ["a dog"]}, FakeLambdaContext())
    assert result["statusCode"] == 500
    assert emitted(capsys)["FailedRequests"] == 1


def test_batch_counts_frames_and_a_failure_is_a_function_error(s3, batch_handler, monkeypatch, capsys):
    from tests.sample_images import frame_bytes

    s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000000.webp", Body=frame_bytes(1))
    s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000001.webp", Body=b"broken")
    batch = batch_handler()
    batch.handler({"video_id": "v"}, FakeLambdaContext(function_name="clip-batch-embed"))
    done = emitted(capsys)
    assert (done["FramesEmbedded"], done["FramesRejected"], done["Requests"]) == (1, 1, 1)

    def s3_is_down(*_, **__):
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(batch.service, "run", s3_is_down)
    with pytest.raises(RuntimeError, match="S3 is down"):
        batch.handler({"video_id": "v"}, FakeLambdaContext(function_name="clip-batch-embed"))
    assert emitted(capsys)["FailedRequests"] == 1
