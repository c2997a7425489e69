"""Fixtures shared by the handler tests (a tiny CLIP model, AWS fakes, a Lambda context), and the
test layers: every test is exactly one of `unit`, `integration`, `infra` (`make test-unit`, ...)."""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import boto3
import botocore.loaders
import pytest
from moto import mock_aws

# Never reach a real AWS account or the Hugging Face Hub from a test.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "ClipFrameSearchTest",
        "POWERTOOLS_SERVICE_NAME": "test",
    }
)
os.environ.pop("AWS_PROFILE", None)

# Every handler reloaded as a cold start builds new boto3 sessions, and each session parses botocore's
# JSON models again: about 16 ms a file, a dozen per search test world, a third of those tests' time.
# The files do not change during a run, so each is parsed once per process. botocore already hands one
# parsed model to every client of a session; handing it to every session changes nothing they see.
_parse_botocore_file = functools.lru_cache(maxsize=None)(botocore.loaders.JSONFileLoader().load_file)
botocore.loaders.JSONFileLoader.load_file = lambda self, file_path: _parse_botocore_file(file_path)  # type: ignore[method-assign]


# The layers, by the top folder under tests/. A folder missing here fails the collection: a new
# folder must be placed in a layer, never silently left out of `make test-unit`.
LAYERS: Final = ("unit", "integration", "infra")
LAYER_OF_FOLDER: Final = {
    "": "unit",  # files directly in tests/
    "clip": "unit",
    "batch": "unit",
    "search": "unit",
    "extract": "unit",
    "local": "integration",
    "browser": "integration",  # headless Chromium on the local page (tests/browser/conftest.py)
    "infra": "infra",
    "ci": "infra",
    "docs": "infra",  # the documentation site's strict build, the README's size
}
# A test that asks for one of these fixtures runs several functions behind the local Lambda Invoke
# endpoint (an HTTP server, boto3 in between), whatever its folder: integration.
INTEGRATION_FIXTURES: Final = frozenset({"world"})


def layer_of(folder: str, fixtures: Iterable[str], explicit: Iterable[str] = ()) -> str:
    """The layer of a test in tests/<folder>/ that uses `fixtures`; an explicit layer marker wins."""
    marked = [name for name in explicit if name in LAYERS]
    if len(marked) > 1:
        raise pytest.UsageError(f"a test has more than one layer marker: {', '.join(marked)}")
    if marked:
        return marked[0]
    if folder not in LAYER_OF_FOLDER:
        raise pytest.UsageError(
            f"tests/{folder}/ is in no test layer: add it to LAYER_OF_FOLDER in tests/conftest.py"
        )
    if INTEGRATION_FIXTURES.intersection(fixtures):
        return "integration"
    return LAYER_OF_FOLDER[folder]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        folder = parts[0] if len(parts) > 1 else ""
        explicit = [mark.name for mark in item.iter_markers()]
        layer = layer_of(folder, getattr(item, "fixturenames", ()), explicit)
        if layer not in explicit:
            item.add_marker(layer)


@pytest.fixture(autouse=True)
def _no_metrics_left_over() -> None:
    """Powertools keeps metrics process-wide: a test starts with none an earlier test added (the local
    system, for one, adds metrics with flushing disabled)."""
    from clipsearch.runtime.entry import metrics

    metrics.clear_metrics()


@pytest.fixture(autouse=True)
def _unit_tests_start_no_lambda_endpoint(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test runs one handler in-process. One that starts the local Lambda Invoke endpoint is an
    integration test and must say so; the folder rule cannot see a direct `serve(...)` call."""
    if request.node.get_closest_marker("unit") is None:
        return
    import local.lambda_server

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{request.node.nodeid} is a unit test but starts the local Lambda endpoint: "
            "mark it @pytest.mark.integration"
        )

    monkeypatch.setattr(local.lambda_server, "ThreadingHTTPServer", refuse)


@dataclass
class FakeLambdaContext:
    function_name: str = "clip-inference"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:ap-southeast-1:123456789012:function:clip-inference"
    aws_request_id: str = "test-request-0001"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from local.tiny_clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    """The demo CLIP (local/demo_clip.py), as the demo runs it: trained once into .local/models (under a
    minute) and reused by every later run."""
    from local.models import demo_model

    return demo_model()


@pytest.fixture(scope="session")
def tiny_runtime_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model converted once per session, as the images convert theirs (ONNX, fp32)."""
    from clipsearch.model.export_onnx import export

    return export(tiny_model_dir, tmp_path_factory.mktemp("tiny-runtime") / "model")


BUCKET = "totgo1"
TABLE = "videos"
REGION: Final = "ap-southeast-1"


# Lambda Invoke goes to the local endpoint (local/lambda_server.py), not to moto's Lambda.
MOTO_CONFIG: Any = {"core": {"passthrough": {"services": ["lambda"]}}}


@pytest.fixture
def s3() -> Iterator[Any]:
    """Moto S3 with the frame bucket (and a foreign one, for the ugly cases)."""
    with mock_aws(config=MOTO_CONFIG):
        client = boto3.client("s3", region_name=REGION)
        for name in (BUCKET, "someone-else"):
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


WORK_QUEUE = "clip-frame-search-work.fifo"


@pytest.fixture
def work_queue(s3) -> str:
    """The work queue in moto: SQS FIFO with a dead-letter queue after 3 receives (the stack's),
    deduplicating as SQS does (local/event_sources.py)."""
    from local.event_sources import deduplicate_like_sqs

    deduplicate_like_sqs()
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="clip-frame-search-work-dlq.fifo", Attributes={"FifoQueue": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": 3}
    attributes = {"FifoQueue": "true", "VisibilityTimeout": "2", "RedrivePolicy": json.dumps(redrive)}
    return str(sqs.create_queue(QueueName=WORK_QUEUE, Attributes=attributes)["QueueUrl"])


@pytest.fixture
def videos_table(s3) -> Any:
    """Moto's DynamoDB client with the upstream `videos` table (and its stream, as the stack makes it)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return dynamodb


VECTOR_BUCKET = "clip-frame-search-vectors"
VECTOR_INDEX = "frames"


@pytest.fixture
def vector_index(s3) -> dict[str, str]:
    """An S3 Vectors index as the stack makes it (cosine, float32, the tiny model's dimension) on
    moto with QueryVectors emulated (local/s3vectors.py); the backend's environment variables."""
    from local.s3vectors import create_index_as_the_stack_does, install
    from local.tiny_clip import PROJECTION_DIM

    install()
    client = boto3.client("s3vectors", region_name=REGION)
    create_index_as_the_stack_does(client, bucket=VECTOR_BUCKET, index=VECTOR_INDEX, dimension=PROJECTION_DIM)
    return {
        "INDEX_BACKEND": "s3vectors",
        "VECTOR_BUCKET_NAME": VECTOR_BUCKET,
        "VECTOR_INDEX_NAME": VECTOR_INDEX,
        "VECTOR_DIMENSION": str(PROJECTION_DIM),
    }


@pytest.fixture
def batch_handler(tiny_runtime_dir: Path, work_queue: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`make(**overrides)`: the batch handler imported as Lambda does, with the stack's environment."""

    def make(**overrides: str) -> ModuleType:
        environment = {
            "BUCKET_NAME": BUCKET,
            "VIDEOS_TABLE": TABLE,
            "WORK_QUEUE_URL": work_queue,
            "MODEL_DIR": str(tiny_runtime_dir),
        }
        return fresh_handler("lambda_batch.app", monkeypatch, **(environment | overrides))

    return make


@pytest.fixture
def clip_app(s3, tiny_runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The CLIP handler imported as Lambda does, on moto S3."""
    return fresh_handler("lambda_clip.app", monkeypatch, BUCKET_NAME=BUCKET, MODEL_DIR=str(tiny_runtime_dir))


def fresh_handler(module_name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """A handler module imported anew with the function's environment, as a cold start does."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(importlib.import_module(module_name))
