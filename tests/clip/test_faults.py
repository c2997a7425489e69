"""The CLIP function with hostile text and S3 that answers 403 (issue #11)."""

from __future__ import annotations

from clipsearch.vectors import from_f16_b64
from tests.clip.test_handler import invoke, put_frame
from tests.conftest import BUCKET
from tests.faults import Outage
from tests.sample_images import frame_bytes


def test_a_lone_surrogate_is_a_per_item_error_not_a_500(clip_app, lambda_context):
    status, body = invoke(
        clip_app, {"items": ["a bike \udcff", "a boat"], "encoding": "f16-b64"}, lambda_context
    )
    assert status == 200
    assert body["embeddings"][0] is None
    assert len(from_f16_b64(body["embeddings"][1])) == body["dim"]
    assert body["errors"] == [{"index": 0, "error": "not valid Unicode text (it holds a lone surrogate)"}]


def test_a_403_for_a_frame_is_a_per_item_error_that_says_what_it_may_mean(clip_app, lambda_context, s3):
    # The CLIP role may not list frames/, so S3 answers 403 (not 404) for a frame that does not exist.
    present = put_frame(s3, "frames/v/frame_000000.webp", frame_bytes(1))
    Outage(clip_app.service.s3, "GetObject", "AccessDenied", 403, matching="frame_000001")
    status, body = invoke(
        clip_app,
        {"mode": "image", "items": [present, f"s3://{BUCKET}/frames/v/frame_000001.webp"]},
        lambda_context,
    )
    assert status == 200
    assert body["embeddings"][0] is not None
    assert body["errors"] == [
        {
            "index": 1,
            "error": f"s3://{BUCKET}/frames/v/frame_000001.webp: access denied "
            "(it does not exist, or this function may not read it)",
        }
    ]


def test_an_s3_outage_on_a_frame_is_a_per_item_error(clip_app, lambda_context, s3):
    uri = put_frame(s3, "frames/v/frame_000000.webp", frame_bytes(1))
    Outage(clip_app.service.s3, "GetObject", "InternalError", 500)
    status, body = invoke(clip_app, {"mode": "image", "items": [uri]}, lambda_context)
    assert status == 200
    assert body["errors"][0]["error"].endswith("S3 error InternalError: injected InternalError")
