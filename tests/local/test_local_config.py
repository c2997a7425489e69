"""The local system run with a configuration other than cdk.json's.

A module of its own: the handler modules are process-wide (a local system re-imports them with its
environment), so this system must not start while test_system.py's module-scoped one is serving.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployment.context import load_config, read_cdk_json_context
from local.lambda_server import LocalFunction
from local.stack import local_system

ROOT = Path(__file__).resolve().parents[2]


def test_another_configuration_is_run_as_given(tiny_model_dir):
    # GIVEN a configuration with other names and another region, validated as app.py does
    overrides = {
        "region": "us-east-1",
        "bucket_name": "my-frames",
        "table_name": "my-videos",
        "clip_function_name": "my-clip",
        "search_function_name": "my-search",
        "batch_function_name": "my-batch",
        "extract_function_name": "my-extract",
        "frame_cache": "packed",
    }
    config = load_config(read_cdk_json_context(ROOT / "cdk.json") | overrides)
    with local_system(tiny_model_dir, config=config) as running:
        # THEN the resources and the functions' wiring use them
        assert running.functions == {
            "clip": "my-clip",
            "search": "my-search",
            "batch": "my-batch",
            "extract": "my-extract",
        }
        # (us-east-1 is the one region S3 reports as no LocationConstraint)
        assert running.s3.get_bucket_location(Bucket="my-frames")["LocationConstraint"] is None
        assert running.dynamodb.describe_table(TableName="my-videos")["Table"]["TableStatus"] == "ACTIVE"
        video_id = running.add_samples()[0]
        assert json.loads(running.invoke("batch", {"video_id": video_id})["body"])["status"] == "complete"
        cached = running.s3.list_objects_v2(Bucket="my-frames", Prefix="embeddings-cache/")["Contents"]
        assert [entry["Key"] for entry in cached] == [f"embeddings-cache/{video_id}/packed.npz"]  # no .npy
        search = json.loads(running.invoke("search", {"query": "a bicycle", "video_ids": [video_id]})["body"])
        assert search["results"], search  # search reached my-clip and read my-frames / my-videos
        # AND the Lambda ARNs name the configured region
        whoami = LocalFunction("whoami", lambda event, context: {"arn": context.invoked_function_arn})
        running.local.functions["whoami"] = whoami
        assert running.invoke("whoami", {}) == {
            "arn": "arn:aws:lambda:us-east-1:000000000000:function:whoami"
        }
        with pytest.raises(running.lambda_client.exceptions.ResourceNotFoundException, match="us-east-1"):
            running.lambda_client.invoke(FunctionName="clip-inference", Payload=b"{}")
