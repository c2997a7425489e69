"""Property tests over the three handlers' event shapes (issue #11): across thousands of generated
events, valid, near-valid and hostile, no response is a 5xx and every body is strict JSON; and over
the data around them (issue #22): frame names (numbers past 64 bits among them) and `videos` rows
with any number DynamoDB holds, searched and listed page by page.

Derandomized, so CI runs the same events every time; the counts add up to 2,400 events."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.tiny_clip import PROJECTION_DIM
from tests.conftest import BUCKET, FakeLambdaContext
from tests.sample_images import frame_bytes

# the search function's fixture, used here too, with the backend fixtures it picks from by name
from tests.search.conftest import memory_world, s3vectors_world, world  # noqa: F401
from tests.search.test_http_api import v2_event


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


# Issue #22: the data around the events. Frame names as the layout allows them (a number at the end,
# up to 40 digits: past 64 bits too), and `videos` rows with any number DynamoDB can hold.
frame_names = st.one_of(
    st.sampled_from(
        [f"frame_{2**63 - 1}", f"frame_{2**63}", "frame_99999999999999999999", "frame_" + "0" * 30]
    ),
    st.integers(min_value=0, max_value=10**30).map(lambda n: f"frame_{n:06d}"),
    st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}\Z"),
)
dynamodb_numbers = st.one_of(
    st.sampled_from(["0", "-3", "7.5", str(2**63 - 1), str(2**63), "1e-130", "9.99e125", "-9.99e125"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(min_value=1e-100, max_value=1e100).map(repr),
)
row_numbers = st.fixed_dictionaries(
    {},
    optional={
        name: dynamodb_numbers.map(lambda n: {"N": n}) | st.just({"S": "x"})
        for name in ("frames_count", "video_fps", "frame_step", "extract_fps", "duration_seconds")
    },
)
page_queries = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.integers(-5, 2000).map(str) | st.text(max_size=6),
        "cursor": st.sampled_from(["v", "a", "zz", "../x"]) | st.text(max_size=12),
    },
)
row_searches = st.sampled_from(
    [
        {"query": "a cat"},
        {"query": "a cat", "time_range": [0, 5], "top_k": 3},
        {"query": "a cat", "video_ids": ["v"], "dedupe": True},
    ]
)


@property_test(100)
@given(
    row=row_numbers,
    frame_ids=st.lists(frame_names, min_size=1, max_size=3, unique=True),
    request=row_searches,
)
def test_search_never_answers_5xx_whatever_its_rows_and_frame_names(world, row, frame_ids, request):  # noqa: F811
    world.app.service.catalog.scan_ttl_seconds = 0  # each example's row is read, not a held Scan
    world.dynamodb.put_item(
        TableName="videos", Item={"video_id": {"S": "v"}, "status": {"S": "processed"}, **row}
    )
    if world.backend == "memory":  # a packed object written before frame names were range-checked
        world.pack("v", np.eye(len(frame_ids), PROJECTION_DIM, dtype=np.float32), frame_ids=frame_ids)
    check(world.app.handler(request, FakeLambdaContext(function_name="clip-search")))


@property_test(100)
@given(row=row_numbers, query=page_queries)
def test_get_videos_never_answers_5xx_whatever_its_rows_and_page(world, row, query):  # noqa: F811
    world.app.service.catalog.scan_ttl_seconds = 0
    world.dynamodb.put_item(
        TableName="videos", Item={"video_id": {"S": "v"}, "status": {"S": "processed"}, **row}
    )
    event = v2_event("GET", "/videos")
    event["queryStringParameters"] = query
    check(world.app.handler(event, FakeLambdaContext(function_name="clip-search")))


@pytest.fixture
def indexing_app(s3, batch_handler, vector_index, videos_table) -> Any:
    """The batch function writing an S3 Vectors index (which stores each frame's number)."""
    videos_table.put_item(TableName="videos", Item={"video_id": {"S": "v"}, "status": {"S": "processed"}})
    return batch_handler(**vector_index)


@property_test(100)
@given(name=frame_names, extension=st.sampled_from([".webp", ".png", ".jpg"]))
def test_batch_never_answers_5xx_whatever_its_frame_names(indexing_app, s3, name, extension):
    s3.put_object(Bucket=BUCKET, Key=f"frames/v/{name}{extension}", Body=frame_bytes(len(name)))
    check(indexing_app.handler({"video_id": "v"}, FakeLambdaContext(function_name="clip-batch-embed")))
