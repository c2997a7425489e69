"""The values the stack derives for the functions' environments (deployment/runtime_env.py)."""

from __future__ import annotations

import re

import pytest

from deployment import runtime_env
from deployment.context import load_config
from deployment.runtime_env import clip_read_timeout_s, function_environments, max_cached_vectors
from tests.docs.pages import CONFIGURATION
from tests.infra.conftest import CDK_CONTEXT, ROOT


def test_max_cached_vectors_formula():
    # (memory - 300 MB baseline) over 512 float16 dims times the 1.5 peak factor
    assert max_cached_vectors(2048) == (2048 - 300) * 2**20 * 10 // (512 * 2 * 15)
    assert max_cached_vectors(2048) == 1_193_301
    assert max_cached_vectors(10240) == 9940 * 2**20 * 10 // (512 * 2 * 15)


def test_max_cached_vectors_grows_with_memory_and_never_reaches_zero():
    sizes = [max_cached_vectors(mb) for mb in (128, 300, 512, 1024, 2048, 4096, 10240)]
    assert sizes[:2] == [1, 1]  # below the runtime baseline: one vector, never 0 (no cache at all)
    assert sizes == sorted(sizes)
    assert len(set(sizes[1:])) == len(sizes) - 1


@pytest.mark.parametrize("constant", ["RUNTIME_BASELINE_MB", "EMBEDDING_DIM", "PEAK_FACTOR"])
def test_sizing_constants_are_defined_once(constant):
    hits = [
        path
        for folder in ("stacks", "deployment", "local")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(rf"^{constant} = ", path.read_text(), re.M)
    ]
    assert hits == [ROOT / "deployment" / "runtime_env.py"]
    assert getattr(runtime_env, constant)


def test_clip_read_timeout_leaves_the_search_time_to_answer():
    assert clip_read_timeout_s(60) == 55
    assert clip_read_timeout_s(3) == 1


def test_search_memory_sets_max_cached_vectors():
    config = load_config({**CDK_CONTEXT, "search_memory_mb": 4096})
    environments = function_environments(
        config, bucket="frames-111122223333", work_queue_url="https://sqs/work.fifo"
    )
    assert environments["search"]["MAX_CACHED_VECTORS"] == str(max_cached_vectors(4096))


def test_the_metrics_namespace_is_written_once():
    literal = 'METRICS_NAMESPACE = "'
    owners = [
        path
        for folder in ("stacks", "deployment", "local")
        for path in (ROOT / folder).rglob("*.py")
        if literal in path.read_text()
    ]
    assert owners == [ROOT / "deployment" / "runtime_env.py"]


def test_the_configuration_page_states_the_default_cache_bound():
    default = max_cached_vectors(CDK_CONTEXT["search_memory_mb"])
    assert f"{default:,}" in CONFIGURATION.read_text()


def test_search_and_batch_learn_the_index_backend_and_where_an_s3_vectors_index_is():
    memory = function_environments(
        load_config(CDK_CONTEXT), bucket="frames-111122223333", work_queue_url="https://sqs/work.fifo"
    )
    vectors = function_environments(
        load_config({**CDK_CONTEXT, "index_backend": "s3vectors", "environment": "dev"}),
        bucket="frames-111122223333",
        work_queue_url="https://sqs/work.fifo",
    )
    for role in ("search", "batch"):
        assert memory[role]["INDEX_BACKEND"] == "memory"
        assert not {"VECTOR_BUCKET_NAME", "VECTOR_INDEX_NAME"} & set(memory[role])
        assert vectors[role]["INDEX_BACKEND"] == "s3vectors"
        assert vectors[role]["VECTOR_BUCKET_NAME"] == "clip-frame-vectors-dev"  # the environment's own
        assert vectors[role]["VECTOR_INDEX_NAME"] == "frames"
        assert vectors[role]["VECTOR_DIMENSION"] == "512"  # the model's, as the index is made
    assert not {"INDEX_BACKEND", "VECTOR_BUCKET_NAME", "VECTOR_INDEX_NAME"} & set(vectors["clip"])
