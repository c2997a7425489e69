"""The emulated QueryVectors (local/s3vectors.py) keeps AWS's semantics: exact cosine, the filter
operators, topK and dimension limits, float32, non-filterable keys, 500 vectors per PutVectors."""

from __future__ import annotations

from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, VECTOR_BUCKET, VECTOR_INDEX

DIM = 16  # the tiny model's, as the vector_index fixture makes the index


@pytest.fixture
def index(vector_index) -> Any:
    client = boto3.client("s3vectors", region_name=REGION)
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((30, DIM)).astype(np.float32)
    client.put_vectors(
        vectorBucketName=VECTOR_BUCKET,
        indexName=VECTOR_INDEX,
        vectors=[
            {
                "key": f"v{i % 3}/f{i}",
                "data": {"float32": rows[i].tolist()},
                "metadata": {
                    "video_id": f"v{i % 3}",
                    "frame_index": i,
                    "time_s": i / 2,
                    "frame_key": f"k{i}",
                },
            }
            for i in range(30)
        ],
    )
    client.rows = rows  # the vectors, for the oracle
    return client


def query(client: Any, vector: np.ndarray, **options: Any) -> list[dict[str, Any]]:
    arguments = {"vectorBucketName": VECTOR_BUCKET, "indexName": VECTOR_INDEX, "topK": 30}
    arguments |= {"queryVector": {"float32": vector.tolist()}, "returnDistance": True} | options
    return list(client.query_vectors(**arguments)["vectors"])


def test_distances_are_exact_cosine_distances_nearest_first(index):
    q = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    found = query(index, q, topK=5, returnMetadata=True)
    rows = index.rows
    cosine = rows @ q / (np.linalg.norm(rows, axis=1) * np.linalg.norm(q))
    best = np.argsort(-cosine)[:5]
    assert [item["key"] for item in found] == [f"v{i % 3}/f{i}" for i in best]
    assert [item["distance"] for item in found] == pytest.approx(list(1 - cosine[best]), abs=1e-6)
    assert found[0]["metadata"]["frame_key"] == f"k{best[0]}"
    assert "metadata" not in query(index, q, topK=1)[0]  # only when asked for


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"video_id": "v1"}, {i for i in range(30) if i % 3 == 1}),
        ({"video_id": {"$eq": "v1"}}, {i for i in range(30) if i % 3 == 1}),
        ({"video_id": {"$in": ["v0", "v2"]}}, {i for i in range(30) if i % 3 != 1}),
        ({"time_s": {"$gte": 2.0, "$lte": 4.0}}, {4, 5, 6, 7, 8}),
        ({"$and": [{"video_id": "v0"}, {"time_s": {"$lt": 5}}]}, {0, 3, 6, 9}),
        ({"$or": [{"frame_index": {"$gt": 27}}, {"frame_index": 0}]}, {0, 28, 29}),
        ({"video_id": {"$nin": ["v0", "v1"]}}, {i for i in range(30) if i % 3 == 2}),
        ({"time_s": {"$exists": False}}, set()),
    ],
)
def test_the_filter_operators(index, condition, expected):
    found = query(index, np.ones(DIM, np.float32), filter=condition)
    assert {int(item["key"].split("/f")[1]) for item in found} == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"topK": 101}, "topK"),  # (below 1 botocore refuses before sending)
        ({"queryVector": {"float32": [1.0] * (DIM - 1)}}, "dimension"),
        ({"filter": {"frame_key": "k1"}}, "non-filterable"),
        ({"filter": {"video_id": {"$regex": "v"}}}, "unsupported filter operator"),
        ({"filter": {"$not": {"video_id": "v1"}}}, "unsupported filter operator"),
        ({"filter": {"video_id": {"$in": []}}}, "non-empty array"),
        ({"filter": {"time_s": {"$gte": "1"}}}, "takes a number"),
    ],
)
def test_what_aws_refuses_is_a_validation_exception(index, options, message):
    with pytest.raises(ClientError) as raised:
        query(index, np.ones(DIM, np.float32), **options)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert message in raised.value.response["Error"]["Message"]


def test_put_vectors_takes_at_most_500_of_the_index_dimension(vector_index):
    client = boto3.client("s3vectors", region_name=REGION)
    where = {"vectorBucketName": VECTOR_BUCKET, "indexName": VECTOR_INDEX}
    many = [{"key": f"k{i}", "data": {"float32": [1.0] * DIM}} for i in range(501)]
    with pytest.raises(ClientError, match="1 to 500 vectors"):
        client.put_vectors(**where, vectors=many)
    with pytest.raises(ClientError, match="length 16"):
        client.put_vectors(**where, vectors=[{"key": "k", "data": {"float32": [1.0] * 3}}])
    client.put_vectors(**where, vectors=many[:500])
    assert len(client.list_vectors(**where)["vectors"]) == 500


def test_the_write_and_read_limits(vector_index):
    client = boto3.client("s3vectors", region_name=REGION)
    where = {"vectorBucketName": VECTOR_BUCKET, "indexName": VECTOR_INDEX}
    data = {"float32": [1.0] * DIM}
    with pytest.raises(ClientError, match="1 to 1024 characters"):
        client.put_vectors(**where, vectors=[{"key": "k" * 1025, "data": data}])
    with pytest.raises(ClientError, match="filterable metadata of"):
        client.put_vectors(
            **where, vectors=[{"key": "k", "data": data, "metadata": {"video_id": "v" * 2100}}]
        )
    # the non-filterable keys do not count against the 2 KB
    client.put_vectors(**where, vectors=[{"key": "k", "data": data, "metadata": {"frame_key": "f" * 2100}}])
    with pytest.raises(ClientError, match="1 to 100 keys"):
        client.get_vectors(**where, keys=[f"k{i}" for i in range(101)])
    with pytest.raises(ClientError, match="1 to 500 keys"):
        client.delete_vectors(**where, keys=[f"k{i}" for i in range(501)])
