"""What a cold start loads: the CLIP handler imported as Lambda imports it, in a process of its own,
with the stack's environment. A text request builds no S3 client (boto3 is never imported) and,
with tracing off, no Tracer (aws_xray_sdk is never imported); an image request builds the client,
and tracing on creates the Tracer, so both are deferred to where they are needed, not dropped."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployment.runtime_env import tracing_variables
from tests.sample_images import frame_bytes

ROOT = Path(__file__).resolve().parents[2]
WATCHED = ("boto3", "aws_xray_sdk")

SCRIPT = """
import json, sys
import lambda_clip.app as app

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "clip-inference", 3008, "cold"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:clip-inference"

events = json.loads(sys.argv[1])
statuses = [app.handler(event, Context())["statusCode"] for event in events]
watched = json.loads(sys.argv[2])
print(json.dumps({"statuses": statuses, "loaded": [name for name in watched if name in sys.modules]}))
"""


def cold_start(model_dir: Path, events: list[Any], *, tracing: bool = False) -> dict[str, Any]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(ROOT),  # as in Lambda: Powertools would trace
        "AWS_LAMBDA_FUNCTION_NAME": "clip-inference",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "BUCKET_NAME": "totgo1",
        "MODEL_DIR": str(model_dir),
        "POWERTOOLS_SERVICE_NAME": "clip-inference",
        "POWERTOOLS_METRICS_NAMESPACE": "ClipFrameSearchTest",
        **tracing_variables(tracing),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(events), json.dumps(WATCHED)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def image_event() -> dict[str, Any]:
    return {"mode": "image", "items": [base64.b64encode(frame_bytes(1, "PNG")).decode()]}


def test_a_text_request_loads_neither_boto3_nor_the_xray_sdk(tiny_runtime_dir):
    text = json.loads((ROOT / "events" / "clip-text.json").read_text())
    assert cold_start(tiny_runtime_dir, [text, text]) == {"statuses": [200, 200], "loaded": []}


def test_an_image_request_builds_the_s3_client_when_it_comes(tiny_runtime_dir, image_event):
    text = json.loads((ROOT / "events" / "clip-text.json").read_text())
    assert cold_start(tiny_runtime_dir, [text, image_event]) == {"statuses": [200, 200], "loaded": ["boto3"]}


def test_tracing_on_creates_the_tracer(tiny_runtime_dir):
    assert "aws_xray_sdk" in cold_start(tiny_runtime_dir, [], tracing=True)["loaded"]
