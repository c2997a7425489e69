"""The CLIP function's contract, through its handler: events in, Lambda responses out."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clipsearch.model.torch_reference import ClipEmbedder
from clipsearch.vectors import from_f16_b64, from_npy
from local.tiny_clip import PROJECTION_DIM
from tests.conftest import BUCKET
from tests.sample_images import encode, frame_bytes, picture

EVENTS = Path(__file__).resolve().parents[2] / "events"


def invoke(clip_app, event: Any, context) -> tuple[int, dict[str, Any]]:
    result = clip_app.handler(event, context)
    assert set(result) == {"statusCode", "headers", "body"}
    return result["statusCode"], json.loads(result["body"])


def put_frame(s3, key: str, data: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return f"s3://{BUCKET}/{key}"


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    return ClipEmbedder(tiny_model_dir)


def image_vector(reference, data: bytes) -> np.ndarray:
    from clipsearch.media.images import decode_image

    return reference.embed_images([decode_image(data, max_pixels=10**9)])[0]


def test_the_guides_test_event_returns_one_vector(clip_app, lambda_context):
    event = json.loads((EVENTS / "clip-text.json").read_text())
    assert event == {"mode": "text", "items": ["a man riding a bicycle"]}
    status, body = invoke(clip_app, event, lambda_context)
    assert status == 200
    assert body["dim"] == PROJECTION_DIM
    (vector,) = body["embeddings"]
    assert len(vector) == PROJECTION_DIM
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert body["errors"] == []
    assert body["model"] == clip_app.service.embedder().model_id


def test_mode_defaults_to_text_and_a_json_string_event_works(clip_app, lambda_context, reference):
    status, body = invoke(clip_app, json.dumps({"items": ["a dog"]}), lambda_context)
    assert status == 200
    np.testing.assert_allclose(body["embeddings"][0], reference.embed_texts(["a dog"])[0], atol=1e-6)


@pytest.mark.parametrize("base64_body", [False, True])
def test_http_proxy_events_are_understood(clip_app, lambda_context, base64_body):
    payload = json.dumps({"mode": "text", "items": ["a red car"]})
    body = base64.b64encode(payload.encode()).decode() if base64_body else payload
    event = {
        "version": "2.0",
        "requestContext": {"http": {"method": "POST"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }
    result = clip_app.handler(event, lambda_context)
    assert result["statusCode"] == 200
    assert result["headers"] == {"Content-Type": "application/json"}
    assert len(json.loads(result["body"])["embeddings"][0]) == PROJECTION_DIM


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("frame_000000.webp", "WEBP"), ("frame_000001.jpg", "JPEG"), ("frame_000002.png", "PNG")],
)
def test_frames_from_s3_in_every_format(clip_app, lambda_context, s3, reference, name, fmt):
    data = frame_bytes(7, fmt)
    uri = put_frame(s3, f"frames/vid1/{name}", data)
    status, body = invoke(clip_app, {"mode": "image", "items": [uri]}, lambda_context)
    assert status == 200, body
    assert body["errors"] == []
    np.testing.assert_allclose(body["embeddings"][0], image_vector(reference, data), atol=1e-5)


def test_inline_images_as_base64_data_uri_and_object(clip_app, lambda_context, reference):
    data = frame_bytes(3, "PNG")
    plain = base64.b64encode(data).decode()
    items = [plain, f"data:image/png;base64,{plain}", {"b64": plain}]
    status, body = invoke(clip_app, {"mode": "image", "items": items}, lambda_context)
    assert status == 200
    expected = image_vector(reference, data)
    for vector in body["embeddings"]:
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_mixed_good_and_bad_items_stay_aligned(clip_app, lambda_context, s3, reference):
    good_a = put_frame(s3, "frames/vid1/frame_000000.webp", frame_bytes(1))
    good_b = base64.b64encode(frame_bytes(2, "JPEG")).decode()
    put_frame(s3, "frames/vid1/broken.webp", b"not an image at all")
    items = [
        "s3://someone-else/frames/x/frame_000000.webp",  # foreign bucket
        good_a,
        f"s3://{BUCKET}/frames/vid1/missing.webp",  # no such key
        f"s3://{BUCKET}/frames/vid1/broken.webp",  # corrupt
        "!!!not-base64!!!",
        good_b,
        42,
    ]
    status, body = invoke(clip_app, {"mode": "image", "items": items}, lambda_context)
    assert status == 200
    embeddings = body["embeddings"]
    assert len(embeddings) == len(items)
    assert [i for i, vector in enumerate(embeddings) if vector is not None] == [1, 5]
    np.testing.assert_allclose(embeddings[1], image_vector(reference, frame_bytes(1)), atol=1e-5)
    np.testing.assert_allclose(embeddings[5], image_vector(reference, frame_bytes(2, "JPEG")), atol=1e-5)
    errors = {entry["index"]: entry["error"] for entry in body["errors"]}
    assert set(errors) == {0, 2, 3, 4, 6}
    assert "bucket 'someone-else' is not allowed" in errors[0]
    assert "does not exist" in errors[2]
    assert "not a readable image" in errors[3]
    assert "not valid base64" in errors[4]
    assert "not int" in errors[6]


def test_mixed_text_items_stay_aligned(clip_app, lambda_context, reference):
    status, body = invoke(clip_app, {"items": ["a cat", "", 3, "a dog"]}, lambda_context)
    assert status == 200
    assert [vector is None for vector in body["embeddings"]] == [False, True, True, False]
    assert body["errors"] == [
        {"index": 1, "error": "empty text"},
        {"index": 2, "error": "a text item must be a string, not int"},
    ]
    np.testing.assert_allclose(body["embeddings"][3], reference.embed_texts(["a dog"])[0], atol=1e-6)


def test_f16_b64_encoding_is_compact_and_faithful(clip_app, lambda_context, reference):
    status, body = invoke(clip_app, {"items": ["a boat"], "encoding": "f16-b64"}, lambda_context)
    assert status == 200
    assert body["encoding"] == "f16-b64"
    vector = from_f16_b64(body["embeddings"][0])
    assert vector.shape == (PROJECTION_DIM,)
    expected = reference.embed_texts(["a boat"])[0]
    assert float(vector @ expected) / float(np.linalg.norm(vector)) >= 0.999


@pytest.mark.parametrize(
    "mode",
    ["L", "RGBA", "P", "CMYK", "LA", "I;16"],
)
def test_every_colour_mode_is_converted(clip_app, lambda_context, mode):
    image = picture(5).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = base64.b64encode(encode(image, fmt)).decode()
    status, body = invoke(clip_app, {"mode": "image", "items": [data]}, lambda_context)
    assert status == 200
    assert body["errors"] == [], body["errors"]


def test_transparent_areas_become_white(clip_app, lambda_context, reference):
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    white = Image.new("RGB", (40, 40), (255, 255, 255))
    items = [base64.b64encode(encode(img, "PNG")).decode() for img in (transparent, white)]
    status, body = invoke(clip_app, {"mode": "image", "items": items}, lambda_context)
    assert status == 200
    np.testing.assert_allclose(body["embeddings"][0], body["embeddings"][1], atol=1e-6)


def test_exif_orientation_is_honoured(clip_app, lambda_context):
    upright = picture(9, (60, 30))
    # Stored rotated, with EXIF saying "rotate 90° clockwise to display" (orientation 6).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated_with_exif = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    plain_upright = encode(upright, "JPEG", quality=95)
    items = [base64.b64encode(data).decode() for data in (rotated_with_exif, plain_upright)]
    status, body = invoke(clip_app, {"mode": "image", "items": items}, lambda_context)
    assert status == 200
    first, second = (np.array(vector) for vector in body["embeddings"])
    assert float(first @ second) > 0.99


def test_decompression_bomb_is_refused_before_decoding(clip_app, lambda_context):
    # 2000 x 2000 = 4 MP of one colour: a few KB of PNG, over the test limit of 1 MP.
    bomb = encode(Image.new("L", (2000, 2000)), "PNG")
    assert len(bomb) < 50_000
    status, body = invoke(
        clip_app, {"mode": "image", "items": [base64.b64encode(bomb).decode()]}, lambda_context
    )
    assert status == 200
    assert body["embeddings"] == [None]
    assert "4,000,000 pixels; the limit is 1,000,000" in body["errors"][0]["error"]


def test_cache_writes_float16_npy_under_the_guides_layout(clip_app, lambda_context, s3, reference):
    data = frame_bytes(11)
    uri = put_frame(s3, "frames/abc123/frame_000004.webp", data)
    status, body = invoke(clip_app, {"mode": "image", "items": [uri], "cache": True}, lambda_context)
    assert status == 200
    assert body["cached"] == ["embeddings-cache/abc123/frame_000004.npy"]
    assert body["cache_errors"] == []
    stored = s3.get_object(Bucket=BUCKET, Key="embeddings-cache/abc123/frame_000004.npy")["Body"].read()
    raw = np.load(io.BytesIO(stored), allow_pickle=False)
    assert raw.dtype == np.float16
    assert raw.shape == (PROJECTION_DIM,)
    vector = from_npy(stored)
    expected = image_vector(reference, data)
    assert float(vector @ expected) / float(np.linalg.norm(vector)) >= 0.999


def test_cache_refuses_items_outside_frames_per_item(clip_app, lambda_context, s3):
    uri = put_frame(s3, "frames/abc123/frame_000001.webp", frame_bytes(1))
    inline = base64.b64encode(frame_bytes(2)).decode()
    status, body = invoke(clip_app, {"mode": "image", "items": [uri, inline], "cache": True}, lambda_context)
    assert status == 200
    assert body["cached"] == ["embeddings-cache/abc123/frame_000001.npy", None]
    assert body["cache_errors"] == [{"index": 1, "error": "only s3:// frames under frames/ can be cached"}]
    assert body["embeddings"][1] is not None  # the embedding itself is still returned


def test_a_response_over_6_mb_is_refused_not_truncated(clip_app, lambda_context, monkeypatch):
    monkeypatch.setattr("clipsearch.clip.service.MAX_RESPONSE_BYTES", 2_000)
    status, body = invoke(clip_app, {"items": ["a"] * 8}, lambda_context)
    assert status == 413
    assert "over Lambda's 6 MB limit" in body["error"]
    assert "f16-b64" in body["error"]
    status, _ = invoke(clip_app, {"items": ["a"] * 8, "encoding": "f16-b64"}, lambda_context)
    assert status == 200


def test_an_unexpected_failure_is_a_500_in_the_contracts_shape(clip_app, lambda_context, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(clip_app.service, "embed", broken)
    status, body = invoke(clip_app, {"items": ["a"]}, lambda_context)
    assert status == 500
    assert body == {"error": "internal error; request id test-request-0001"}


TINY_PNG = base64.b64encode(frame_bytes(1, "PNG")).decode()

BAD_REQUESTS = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object, not list"),
    ('"text"', "must be a JSON object, not str"),
    (42, "must be a JSON object, not int"),
    (None, "must be a JSON object, not NoneType"),
    ({}, "items is required"),
    ({"items": []}, "items is empty"),
    ({"items": "a man"}, "items must be a list, got str"),
    ({"items": {"a": 1}}, "items must be a list, got dict"),
    ({"items": ["a"] * 9}, "9 items; at most 8 per request"),
    ({"mode": "video", "items": ["a"]}, "mode must be 'text' or 'image', got 'video'"),
    ({"mode": 1, "items": ["a"]}, "mode must be 'text' or 'image', got 1"),
    ({"mode": None, "items": ["a"]}, "mode must be 'text' or 'image', got None"),
    ({"items": ["a"], "encoding": "f32"}, "encoding must be 'json' or 'f16-b64', got 'f32'"),
    ({"items": ["a"], "cache": "yes"}, "cache must be true or false, got 'yes'"),
    ({"items": ["a"], "cache": True}, "cache applies to image items under frames/ only"),
    ({"items": ["a"], "top_k": 5}, "unknown field(s) top_k; allowed: mode, items, encoding, cache"),
    ({"item": ["a"]}, "unknown field(s) item"),
    ({"items": ["x" * 2001]}, "item 0 has 2,001 characters; the limit is 2,000"),
    ({"mode": "image", "items": ["A" * 30_000_000]}, "item 0 has 30,000,000 characters of inline image data"),
    ({"mode": "image", "items": [{"b64": "A" * 30_000_000}]}, "characters of inline image data"),
    ({"body": None, "isBase64Encoded": False, "requestContext": {}}, "the HTTP request has no body"),
    ({"body": "", "isBase64Encoded": False, "requestContext": {}}, "the HTTP request has no body"),
    ({"body": "{bad", "isBase64Encoded": False, "requestContext": {}}, "not valid JSON"),
    ({"body": "@@@", "isBase64Encoded": True, "requestContext": {}}, "marked base64 but is not base64"),
    (
        {"body": {"items": ["a"]}, "isBase64Encoded": False, "requestContext": {}},
        "the HTTP body must be a JSON string",
    ),
    (b"\xff\xfe", "not UTF-8"),
]


@pytest.mark.parametrize(
    ("event", "message"), BAD_REQUESTS, ids=[f"bad{i}" for i in range(len(BAD_REQUESTS))]
)
def test_bad_requests_get_400_saying_what_is_wrong(clip_app, lambda_context, event, message):
    status, body = invoke(clip_app, event, lambda_context)
    assert status == 400
    assert message in body["error"]


BAD_ITEMS = [
    ({"b64": TINY_PNG, "extra": 1}, 'an image object must be {"b64": "<base64>"}'),
    ({"b64": 5}, 'an image object must be {"b64": "<base64>"}'),
    ([TINY_PNG], "not list"),
    ("data:text/plain;base64,aGVsbG8=", "a data URI must look like data:image/<type>;base64,<data>"),
    ("data:image/png,rawbytes", "a data URI must look like"),
    ("s3://totgo1", "needs a bucket and an object key"),
    ("", "the image data is empty"),
    ("aGVsbG8gd29ybGQ=", "not a readable image"),
    ("s3://totgo1/frames/v/none.webp", "does not exist"),
]


@pytest.mark.parametrize(("item", "message"), BAD_ITEMS, ids=[f"item{i}" for i in range(len(BAD_ITEMS))])
def test_bad_image_items_are_per_item_errors(clip_app, lambda_context, item, message):
    status, body = invoke(clip_app, {"mode": "image", "items": [TINY_PNG, item]}, lambda_context)
    assert status == 200
    assert body["embeddings"][0] is not None
    assert body["embeddings"][1] is None
    ((error,),) = [body["errors"]]
    assert error["index"] == 1
    assert message in error["error"]


def test_limits_come_from_the_environment():
    from clipsearch.clip.service import ClipSettings

    settings = ClipSettings.from_env({"BUCKET_NAME": "b", "MAX_ITEMS": "3", "MAX_IMAGE_PIXELS": "100"})
    assert (settings.max_items, settings.max_image_pixels, settings.max_text_chars) == (3, 100, 2000)
    with pytest.raises(ValueError, match="MAX_ITEMS must be a whole number"):
        ClipSettings.from_env({"BUCKET_NAME": "b", "MAX_ITEMS": "many"})
    with pytest.raises(ValueError, match="MAX_ITEMS must be a whole number of at least 1"):
        ClipSettings.from_env({"BUCKET_NAME": "b", "MAX_ITEMS": "0"})
    with pytest.raises(ValueError, match="BUCKET_NAME is not set"):
        ClipSettings.from_env({})
