"""Property tests over the three handlers' event shapes (issue #11): across thousands of generated
events, valid, near-valid and hostile, no response is a 5xx and every body is strict JSON.

Derandomized, so CI runs the same events every time; the counts add up to 2,100 events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BUCKET, FakeLambdaContext
from tests.sample_images import frame_bytes

# the search function's fixture, used here too, with the backend fixtures it picks from by name
from tests.search.conftest import memory_world, s3vectors_world, world  # noqa: F401


def property_test(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)  # includes lone surrogates
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
)
FRAME = f"s3://{BUCKET}/frames/v/frame_000000.webp"
images = (
    st.sampled_from(
        [
            FRAME,
            f"s3://{BUCKET}/frames/v/missing.webp",
            "s3://someone-else/frames/v/frame_000000.webp",
            "s3://",
            base64.b64encode(frame_bytes(3)).decode(),
            "data:image/webp;base64," + base64.b64encode(frame_bytes(4)).decode(),
            {"b64": "bm90IGFuIGltYWdl"},
            "not base64 !",
        ]
    )
    | anything
)


def proxy(body: Any) -> Any:
    """The same request as API Gateway would send it, sometimes base64-encoded, sometimes broken."""
    text = body if isinstance(body, str) else json.dumps(body, allow_nan=True)
    return st.sampled_from(
        [
            {"body": text, "isBase64Encoded": False, "requestContext": {}},
            {
                "body": base64.b64encode(text.encode("utf-8", "surrogatepass")).decode(),
                "isBase64Encoded": True,
            },
            {"body": text[: len(text) // 2], "requestContext": {}},
            text,
        ]
    )


def shapes(request: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return request | request.flatmap(proxy) | anything


clip_requests = st.fixed_dictionaries(
    {"items": st.lists(st.text(max_size=30) | images, max_size=5)},
    optional={
        "mode": st.sampled_from(["text", "image", "video"]) | anything,
        "encoding": st.sampled_from(["json", "f16-b64"]) | anything,
        "cache": st.booleans() | anything,
    },
)
search_requests = st.one_of(
    st.fixed_dictionaries({"query": st.text(max_size=60) | anything}),
    st.fixed_dictionaries({"image": images}),
    st.fixed_dictionaries(
        {"embedding": st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(), max_size=20)}
    ),
).flatmap(
    lambda query: st.fixed_dictionaries(
        {},
        optional={
            "top_k": st.integers(-5, 200) | anything,
            "min_score": st.floats() | anything,
            "dedupe": st.booleans() | anything,
            "video_ids": st.lists(st.sampled_from(["v", "unknown", "../x", ""]), max_size=3) | anything,
            "time_range": st.lists(st.floats(), max_size=3) | anything,
            "model": st.text(max_size=10) | anything,
        },
    ).map(lambda options: {**query, **options})
)
batch_requests = st.fixed_dictionaries(
    {"video_id": st.sampled_from(["v", "nothing-here", "../v", ""]) | anything},
    optional={
        "frames": st.lists(
            st.sampled_from(["frames/v/frame_000000.webp", FRAME, "x"]) | anything, max_size=3
        ),
        "force": st.booleans() | anything,
    },
)


def check(response: Any) -> None:
    assert response["statusCode"] < 500, response
    json.loads(response["body"], parse_constant=lambda name: pytest.fail(f"{name} in {response['body']}"))


@pytest.fixture
def frames(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000000.webp", Body=frame_bytes(1))


@property_test(800)
@given(event=shapes(clip_requests))
def test_clip_never_answers_5xx(clip_app, frames, event):
    check(clip_app.handler(event, FakeLambdaContext()))


@property_test(800)
@given(event=shapes(search_requests))
def test_search_never_answers_5xx(world, frames, event):  # noqa: F811
    world.add_video("v")
    check(world.app.handler(event, FakeLambdaContext(function_name="clip-search")))


@property_test(500)
@given(event=shapes(batch_requests) | st.lists(batch_requests, max_size=3))
def test_batch_never_answers_5xx(batch_app, frames, event):
    response = batch_app.handler(event, FakeLambdaContext(function_name="clip-batch-embed"))
    if "batchItemFailures" not in response:
        check(response)


@pytest.fixture
def batch_app(s3, batch_handler) -> Any:
    return batch_handler()
