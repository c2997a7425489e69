"""The CLIP function's parts, built once per container from its environment: the settings, and on
the first request that needs them the S3 client and the model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

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
            s3=functools.partial(s3_client, settings.s3_concurrency),
            embedder=functools.partial(
                load_embedder, required(env, "MODEL_DIR", "the CLIP model baked into the image")
            ),
        )

    def handle(self, event: Any) -> dict[str, Any]:
        outcome = self.service.handle(parse_request(event))
        count("Items", outcome.items)
        count("ItemErrors", outcome.failed_items)
        return outcome.response


def s3_client(connections: int) -> Any:
    """Built by the first request that reads or writes S3 (a text request never does): boto3's
    import and one client are about a quarter of a second of a cold start."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=connections))
