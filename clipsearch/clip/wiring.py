"""The CLIP function's parts, built once per container from its environment: the settings, the S3
client and the model (loaded on the first request that needs it)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from clipsearch.clip.service import ClipService, ClipSettings
from clipsearch.model.onnx_model import load_embedder
from clipsearch.runtime.entry import count
from clipsearch.runtime.events import parse_request
from clipsearch.runtime.settings import required


class ClipFunction:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = settings = ClipSettings.from_env(env)
        self.service = ClipService(
            settings=settings,
            s3=boto3.client("s3", config=Config(max_pool_connections=settings.s3_concurrency)),
            embedder=functools.partial(
                load_embedder, required(env, "MODEL_DIR", "the CLIP model baked into the image")
            ),
        )

    def handle(self, event: Any) -> dict[str, Any]:
        outcome = self.service.handle(parse_request(event))
        count("Items", outcome.items)
        count("ItemErrors", outcome.failed_items)
        return outcome.response
