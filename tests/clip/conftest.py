"""The CLIP handler module, imported the way Lambda does, against moto S3."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

BUCKET = "totgo1"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="ap-southeast-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"}
        )
        client.create_bucket(
            Bucket="someone-else", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"}
        )
        yield client


@pytest.fixture
def clip_app(s3, tiny_model_dir, monkeypatch) -> ModuleType:
    """lambda_clip/app.py freshly imported with the function's environment (as a cold start)."""
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("MODEL_DIR", str(tiny_model_dir))
    monkeypatch.setenv("MAX_ITEMS", "8")
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000000")
    module = importlib.import_module("lambda_clip.app")
    return importlib.reload(module)
