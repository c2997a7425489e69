"""The whole system on 127.0.0.1: moto's server for S3, DynamoDB (with its stream), SQS and, with
`index_backend=s3vectors`, S3 Vectors (QueryVectors emulated by local/s3vectors.py), the
three functions behind the Lambda Invoke API, the bucket (with its lifecycle rule), the `videos`
table, the work queue with its dead-letter queue, and the batch function's failure queue. What
moto does not run is emulated in local/event_sources.py: the Pipe from the table's stream to the
work queue and the work queue's event source mapping, on a background thread.

Every boto3 client, the handlers' own included, reaches them through the standard
AWS_ENDPOINT_URL_* variables: no code branches for local runs. Names, region, timeouts and memory
come from the app's validated configuration (cdk.json, as `cdk deploy` reads it).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from clipsearch.cache.expiry import GUIDE_EXPIRY
from clipsearch.catalog.schema import KEY, ORIGINAL_KEY_INDEX
from clipsearch.extract.routes import UPLOAD_EVENTS
from clipsearch.layout import UPLOADS_PREFIX
from clipsearch.work.messages import STREAM_FILTERS
from deployment.config import AppConfig
from deployment.context import load_config, read_cdk_json_context
from deployment.runtime_env import function_environments
from local.event_sources import (
    Poller,
    SqsEventSource,
    StreamPipe,
    deduplicate_like_sqs,
    notify_like_s3,
    pipe_message,
)
from local.lambda_server import LocalFunction, LocalLambda, serve
from local.models import runtime_model
from local.s3vectors import create_index_as_the_stack_does
from local.s3vectors import install as emulate_query_vectors
from local.sample_frames import FPS, STEP, sample_videos

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {
    "clip": "lambda_clip.app",
    "search": "lambda_search.app",
    "batch": "lambda_batch.app",
    "extract": "lambda_extract.app",
}


def deployed_config() -> AppConfig:
    """The configuration `cdk deploy` uses (cdk.json), validated the same way: the deployed names
    and region, locally too."""
    return load_config(read_cdk_json_context(ROOT / "cdk.json"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The work queue's visibility timeout here: the stack's (6 x the batch timeout) would hide a failed
# message for 90 minutes; a local run wants to see it retried.
LOCAL_VISIBILITY_TIMEOUT_S = 30
WORK_MAX_RECEIVES = 3


def runtime_dim(model_dir: str) -> int:
    """The embedding dimension of a runtime model folder (the index is made for it)."""
    return int(json.loads((Path(model_dir) / "runtime.json").read_text())["dim"])


@dataclass
class LocalSystem:
    bucket: str
    table: str
    functions: dict[str, str]  # "clip" / "search" / "batch" / "extract" -> function name
    s3: Any
    dynamodb: Any
    lambda_client: Any
    local: LocalLambda
    sqs: Any
    work_queue_url: str
    failure_queue_url: str
    pipe: StreamPipe  # the table stream's Pipe to the work queue
    work_source: SqsEventSource  # the work queue's event source mapping (the batch function)
    ingest_queue_url: str | None  # with frame_extraction: S3 notifies it of uploads/
    ingest_source: SqsEventSource | None  # the ingest queue's event source mapping (extraction)
    engines: Poller | None  # runs them all in the background, with `auto_index`

    def settle(self, timeout_s: float = 120) -> None:
        """Wait until the stream, the work queue and asynchronous invocations have nothing to do."""
        for _ in range(2):  # an async invoke can queue work, and work can invoke asynchronously
            self.local.wait_for_events(timeout_s)
            if self.engines:
                self.engines.settle(timeout_s)

    def invoke(self, function: str, event: Any) -> dict[str, Any]:
        """Invoke through the real Lambda API (RequestResponse); the decoded payload."""
        name = self.functions.get(function, function)
        response = self.lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"{name} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        return dict(payload)

    def add_video(self, video_id: str, frames: list[tuple[str, bytes]], *, timed: bool = True) -> None:
        """Upload frames (name, bytes) under frames/{video_id}/ and record the video as processed,
        as the upstream frame extractor does (`timed`: with its fps and frame step)."""
        for name, data in frames:
            self.s3.put_object(Bucket=self.bucket, Key=f"frames/{video_id}/{name}", Body=data)
        item = {
            "video_id": {"S": video_id},
            "status": {"S": "processed"},
            "frames_prefix": {"S": f"frames/{video_id}/"},
            "frames_count": {"N": str(len(frames))},
        }
        if timed:
            item |= {
                "video_fps": {"N": str(FPS)},
                "frame_step": {"N": str(STEP)},
                "duration_seconds": {"N": str(len(frames) * STEP / FPS)},
            }
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def upload(self, key: str, data: bytes) -> str:
        """Put a video file under uploads/ (S3 notifies the ingest queue, as in AWS); its ETag."""
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)["ETag"]).strip('"')

    def add_samples(self) -> list[str]:
        for video_id, frames in sample_videos().items():
            self.add_video(video_id, [(f"frame_{i:06d}.webp", data) for i, data in enumerate(frames)])
        return list(sample_videos())


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _handler(module: str) -> Any:
    """Import (or re-import) a handler module: it reads its environment once, at import."""
    loaded = importlib.import_module(module)
    return importlib.reload(loaded).handler


@contextmanager
def local_system(
    model_dir: Path,
    *,
    quiet: bool = True,
    config: AppConfig | None = None,
    auto_index: bool = True,
    chunk_frames: int | None = None,
) -> Iterator[LocalSystem]:
    """The system as `config` (by default cdk.json's) deploys it: its bucket, table, function names
    (with their timeouts and memory) and region. `auto_index`: run the stream's Pipe and the work
    queue's event source mapping (off: work stays queued until `engines` or a test polls it)."""
    config = config or deployed_config()
    region, bucket, table = config.region, config.local_bucket_name, config.physical_table_name
    settings = config.functions
    functions = {role: function.function_name for role, function in settings.items()}
    moto_port, lambda_port = free_port(), free_port()
    moto_url, lambda_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{lambda_port}"
    environment = {
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": moto_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "BUCKET_NAME": bucket,
        "VIDEOS_TABLE": table,
        "CLIP_FUNCTION_NAME": functions["clip"],
        "MODEL_DIR": str(runtime_model(model_dir)),  # the ONNX folder an image bakes, cached
        "HF_HUB_OFFLINE": "1",
        # moto over HTTP on a shared machine answers a send in tens of milliseconds, not a few: the
        # refill waits longer for it here, so that a search queues what it finds (not only the next).
        "REFILL_BUDGET_MS": "2000",
        # A namespace already set wins (the tests' own): Powertools binds it once per process.
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get(
            "POWERTOOLS_METRICS_NAMESPACE", "ClipFrameSearchLocal"
        ),
    }
    if chunk_frames is not None:
        environment["CHUNK_FRAMES"] = str(chunk_frames)
    environment["INDEX_BACKEND"] = config.index_backend
    environment["FRAME_CACHE"] = config.frame_cache
    if config.index_backend == "s3vectors":
        emulate_query_vectors()
        environment |= {
            "AWS_ENDPOINT_URL_S3VECTORS": moto_url,
            "VECTOR_BUCKET_NAME": config.physical_vector_bucket_name,
            "VECTOR_INDEX_NAME": config.vector_index_name,
            "VECTOR_DIMENSION": str(runtime_dim(environment["MODEL_DIR"])),
        }
    if quiet:
        environment |= {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
        }
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    # Function output (logs, EMF metrics) goes to CloudWatch in AWS: stderr here, or nowhere.
    logs = open(os.devnull, "w") if quiet else sys.stderr  # noqa: SIM115 - closed below
    deduplicate_like_sqs()
    notify_like_s3()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    # moto's backends live in this process: start from nothing, whatever an earlier system left.
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).close()  # noqa: S310
    engines: Poller | None = None
    try:
        with ExitStack() as scoped:
            scoped.enter_context(_environment(environment))
            s3 = boto3.client("s3")
            create_bucket: dict[str, Any] = {"Bucket": bucket}
            if region != "us-east-1":  # S3 refuses a LocationConstraint that names us-east-1
                create_bucket["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**create_bucket)
            # A new bucket: the rule is its whole lifecycle configuration (as a created bucket's is).
            lifecycle: Any = {"Rules": [GUIDE_EXPIRY.as_s3_api_rule()]}
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle)
            dynamodb = boto3.client("dynamodb")
            stream_arn = dynamodb.create_table(**_table_as_the_stack_makes_it(table))["TableDescription"][
                "LatestStreamArn"
            ]
            if config.index_backend == "s3vectors":
                create_index_as_the_stack_does(
                    boto3.client("s3vectors"),
                    bucket=config.physical_vector_bucket_name,
                    index=config.vector_index_name,
                    dimension=int(environment["VECTOR_DIMENSION"]),
                )
            sqs = boto3.client("sqs")
            work_queue_url, failure_queue_url = _queues(sqs, config.service_stack_name)
            os.environ["WORK_QUEUE_URL"] = work_queue_url  # read by the handlers at import
            ingest_queue_url = None
            if config.frame_extraction:
                ingest_queue_url = _ingest_queue(sqs, config.service_stack_name, config.ingest_max_receives)
                notify_ingest_queue(s3, bucket, sqs, ingest_queue_url)
                environments = function_environments(
                    config, bucket=bucket, work_queue_url=work_queue_url, ingest_queue_url=ingest_queue_url
                )
                # The extraction function's own variables, as the stack sets them (read at import).
                extract = {
                    k: v for k, v in environments["extract"].items() if not k.startswith("POWERTOOLS_")
                }
                scoped.enter_context(_environment(extract))

            def to_failure_queue(record: dict[str, Any]) -> None:  # Lambda's on-failure destination
                sqs.send_message(QueueUrl=failure_queue_url, MessageBody=json.dumps(record))

            local = LocalLambda(
                [
                    LocalFunction(
                        function.function_name,
                        _handler(HANDLERS[role]),
                        timeout_s=function.timeout_s,
                        memory_mb=function.memory_mb,
                        on_failure=to_failure_queue if role == "batch" else None,
                    )
                    for role, function in settings.items()
                ],
                region=region,
            )
            pipe = StreamPipe(
                boto3.client("dynamodbstreams"),
                stream_arn,
                sqs,
                work_queue_url,
                filters=STREAM_FILTERS,
                message=pipe_message,
            )
            source = SqsEventSource(sqs, work_queue_url, local, functions["batch"], region=region)
            ingest = (
                SqsEventSource(sqs, ingest_queue_url, local, functions["extract"], region=region)
                if ingest_queue_url
                else None
            )
            engines = Poller([pipe.poll, source.poll, *([ingest.poll] if ingest else [])])
            with serve(local, port=lambda_port, function_logs=logs):
                if auto_index:
                    engines.start()
                yield LocalSystem(
                    bucket,
                    table,
                    functions,
                    s3,
                    dynamodb,
                    boto3.client("lambda"),
                    local,
                    sqs,
                    work_queue_url,
                    failure_queue_url,
                    pipe,
                    source,
                    ingest_queue_url,
                    ingest,
                    engines if auto_index else None,
                )
                if auto_index:
                    engines.stop()
    finally:
        moto.stop()
        if quiet:
            logs.close()


def _queues(sqs: Any, stack_name: str) -> tuple[str, str]:
    """(work queue URL, batch failure queue URL): FIFO with a FIFO dead-letter queue, as the stack
    makes them, and a standard queue for Lambda's on-failure destination."""
    dlq = sqs.create_queue(QueueName=f"{stack_name}-work-dlq.fifo", Attributes={"FifoQueue": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": WORK_MAX_RECEIVES}
    work = sqs.create_queue(
        QueueName=f"{stack_name}-work.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT_S),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    failed = sqs.create_queue(QueueName=f"{stack_name}-batch-failed")
    return work["QueueUrl"], failed["QueueUrl"]


def _table_as_the_stack_makes_it(table: str) -> dict[str, Any]:
    """The `videos` table: its key, its stream, and the index on original_key."""
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": KEY, "AttributeType": "S"},
            {"AttributeName": "original_key", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": ORIGINAL_KEY_INDEX,
                "KeySchema": [{"AttributeName": "original_key", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    }


def _ingest_queue(sqs: Any, stack_name: str, max_receives: int) -> str:
    """The ingest queue with its dead-letter queue, as the stack makes them (standard queues: S3
    notifies no FIFO queue)."""
    dlq = sqs.create_queue(QueueName=f"{stack_name}-ingest-dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": max_receives}
    ingest = sqs.create_queue(
        QueueName=f"{stack_name}-ingest",
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT_S),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    return str(ingest["QueueUrl"])


def notify_ingest_queue(s3: Any, bucket: str, sqs: Any, queue_url: str) -> None:
    """The bucket's event notification the stack configures: objects created or removed under
    uploads/ go to the ingest queue. moto delivers them to its SQS as S3 does, the key URL-encoded
    (tests/local pin what arrives)."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "uploads-to-ingest",
                    "QueueArn": arn,
                    "Events": list(UPLOAD_EVENTS),
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOADS_PREFIX}]}},
                }
            ]
        },
    )
