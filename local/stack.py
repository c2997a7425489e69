"""The whole system on 127.0.0.1: moto's server for S3 and DynamoDB, the three functions behind
the Lambda Invoke API, the bucket (with its lifecycle rule) and the `videos` table.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local.lambda_server import LocalFunction, LocalLambda, serve
from local.sample_frames import FPS, STEP, sample_videos
from stacks.cache_expiry import GUIDE_EXPIRY
from stacks.config import AppConfig, load_config, read_cdk_json_context
from stacks.lifecycle_rule_handler.index import put_rule

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {"clip": "lambda_clip.app", "search": "lambda_search.app", "batch": "lambda_batch.app"}


def deployed_config() -> AppConfig:
    """The configuration `cdk deploy` uses (cdk.json), validated the same way: the deployed names
    and region, locally too."""
    return load_config(read_cdk_json_context(ROOT / "cdk.json"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalSystem:
    bucket: str
    table: str
    functions: dict[str, str]  # "clip" / "search" / "batch" -> function name
    s3: Any
    dynamodb: Any
    lambda_client: Any
    local: LocalLambda

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
    model_dir: Path, *, quiet: bool = True, config: AppConfig | None = None
) -> Iterator[LocalSystem]:
    """The system as `config` (by default cdk.json's) deploys it: its bucket, table, function names
    (with their timeouts and memory) and region."""
    config = config or deployed_config()
    region, bucket, table = config.region, config.bucket_name, config.table_name
    settings = {"clip": config.clip, "search": config.search, "batch": config.batch}
    functions = {role: function.function_name for role, function in settings.items()}
    moto_port, lambda_port = free_port(), free_port()
    moto_url, lambda_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{lambda_port}"
    environment = {
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "BUCKET_NAME": bucket,
        "VIDEOS_TABLE": table,
        "CLIP_FUNCTION_NAME": functions["clip"],
        "BATCH_FUNCTION_NAME": functions["batch"],
        "MODEL_DIR": str(model_dir),
        "HF_HUB_OFFLINE": "1",
        # A namespace already set wins (the tests' own): Powertools binds it once per process.
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get(
            "POWERTOOLS_METRICS_NAMESPACE", "ClipFrameSearchLocal"
        ),
    }
    if quiet:
        environment |= {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
        }
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    try:
        with _environment(environment):
            s3 = boto3.client("s3")
            create_bucket: dict[str, Any] = {"Bucket": bucket}
            if region != "us-east-1":  # S3 refuses a LocationConstraint that names us-east-1
                create_bucket["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**create_bucket)
            put_rule(s3, bucket, GUIDE_EXPIRY.as_s3_api_rule())
            dynamodb = boto3.client("dynamodb")
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            local = LocalLambda(
                [
                    LocalFunction(
                        function.function_name,
                        _handler(HANDLERS[role]),
                        timeout_s=function.timeout_s,
                        memory_mb=function.memory_mb,
                    )
                    for role, function in settings.items()
                ],
                region=region,
            )
            with serve(local, port=lambda_port):
                yield LocalSystem(bucket, table, functions, s3, dynamodb, boto3.client("lambda"), local)
    finally:
        moto.stop()
