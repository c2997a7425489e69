"""The CLIP handler module, imported the way Lambda does, against moto S3."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import BUCKET, fresh_handler


@pytest.fixture
def clip_app(s3, tiny_runtime_dir, monkeypatch) -> ModuleType:
    return fresh_handler(
        "lambda_clip.app",
        monkeypatch,
        BUCKET_NAME=BUCKET,
        MODEL_DIR=str(tiny_runtime_dir),
        MAX_ITEMS="8",
        MAX_IMAGE_PIXELS="1000000",
    )
