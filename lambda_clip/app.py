"""CLIP inference function: texts or frames in, L2-normalised embeddings out.

Request: {"mode": "text" | "image", "items": [...], "encoding": "json" | "f16-b64", "cache": bool}
(see README: CLIP function). The model loads once per container from MODEL_DIR.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

from clipsearch.clip_service import ClipService, ClipSettings
from clipsearch.entry import count, lambda_entry
from clipsearch.events import parse_request
from clipsearch.onnx_model import load_embedder
from clipsearch.settings import required

settings = ClipSettings.from_env(os.environ)
service = ClipService(
    settings=settings,
    s3=boto3.client("s3", config=Config(max_pool_connections=settings.s3_concurrency)),
    embedder=functools.partial(
        load_embedder, required(os.environ, "MODEL_DIR", "the CLIP model baked into the image")
    ),
)


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    outcome = service.handle(parse_request(event))
    count("Items", outcome.items)
    count("ItemErrors", outcome.failed_items)
    return outcome.response
