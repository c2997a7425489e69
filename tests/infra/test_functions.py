"""The three container-image functions: image source, role, environment, sizing, logs, outputs."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import CDK_CONTEXT, ROOT, Synthesized, frame_bucket_name

FUNCTIONS = {
    "clip": ("clip-inference", "lambda-clip-inference"),
    "search": ("clip-search", "lambda-clip-search"),
    "batch": ("clip-batch-embed", "lambda-clip-batch"),
    "extract": ("clip-extract", "lambda-clip-extract"),
}


def function_properties(app: Synthesized, name: str) -> Any:
    found = app.service.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": name}})
    assert len(found) == 1, name
    return next(iter(list(found.values())))["Properties"]


@pytest.mark.parametrize("role", FUNCTIONS)
def test_function_sizing_and_architecture_come_from_config(any_app, role):
    name, _ = FUNCTIONS[role]
    properties = function_properties(any_app, name)
    assert properties["PackageType"] == "Image"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["MemorySize"] == CDK_CONTEXT[f"{role}_memory_mb"]
    assert properties["Timeout"] == CDK_CONTEXT[f"{role}_timeout_s"]
    assert properties["Role"]["Fn::GetAtt"][0].startswith(f"{role.capitalize()}FunctionRole")


# The work queue's URL, a CloudFormation reference to the queue (stacks/components/work_queue.py).
WORK_QUEUE_URL = {"Ref": "WorkQueue1CAC4D2F"}
INGEST_QUEUE_URL = {"Ref": "IngestQueue95F6DB49"}
POWERTOOLS = {"POWERTOOLS_METRICS_NAMESPACE": "ClipFrameSearch", "POWERTOOLS_TRACE_DISABLED": "true"}
# Exactly what each handler reads (MODEL_DIR comes from the image, limits have handler defaults).
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "clip": {"BUCKET_NAME": "totgo1", "POWERTOOLS_SERVICE_NAME": "clip-inference", **POWERTOOLS},
    "search": {
        "BUCKET_NAME": "totgo1",
        "VIDEOS_TABLE": "videos",
        "CLIP_FUNCTION_NAME": "clip-inference",
        "WORK_QUEUE_URL": WORK_QUEUE_URL,
        "CLIP_READ_TIMEOUT_S": str(CDK_CONTEXT["search_timeout_s"] - 5),
        "MAX_CACHED_VECTORS": "1376886",  # 2048 MB: floor((2048 - 300) * 2**20 / (512 * 2 * 1.3))
        "FRAME_URL_SECONDS": "600",
        "HTTP_API_TIMEOUT_S": "29",
        "INDEX_BACKEND": "memory",
        "POWERTOOLS_SERVICE_NAME": "clip-search",
        **POWERTOOLS,
    },
    "batch": {
        "BUCKET_NAME": "totgo1",
        "VIDEOS_TABLE": "videos",
        "WORK_QUEUE_URL": WORK_QUEUE_URL,
        "CHUNK_FRAMES": "22141",  # floor(900 s * 8.5 frames/s/vCPU * 10240/1769 vCPUs * 0.5)
        "FRAME_CACHE": "per-frame",
        "INDEX_BACKEND": "memory",
        "POWERTOOLS_SERVICE_NAME": "clip-batch-embed",
        **POWERTOOLS,
    },
    "extract": {
        "BUCKET_NAME": "totgo1",
        "VIDEOS_TABLE": "videos",
        "WORK_QUEUE_URL": WORK_QUEUE_URL,
        "INGEST_QUEUE_URL": INGEST_QUEUE_URL,
        "VIDEOS_KEY_INDEX": "by-original-key",
        "EXTRACT_FPS": "1",
        "EXTRACT_MAX_FRAMES": "3600",
        "EXTRACT_MAX_SECONDS": "3600",
        "EXTRACT_MAX_UPLOAD_MB": "5120",
        "EXTRACT_MAX_SIDE": "1280",
        "EXTRACT_RANGE_SECONDS": "694",  # floor(min(60, 900 / 2) * 2.0 s of video/vCPU-s * 10240/1769)
        "EXTRACT_STALE_SECONDS": "1800",  # 2 x the timeout
        "EXTRACT_CONCURRENCY": "12",  # ceil(2 x 10240/1769 vCPUs)
        "EXTRACT_DECODERS": "6",  # round(10240/1769 vCPUs)
        "POWERTOOLS_SERVICE_NAME": "clip-extract",
        **POWERTOOLS,
    },
}


@pytest.mark.parametrize("role", FUNCTIONS)
def test_each_function_gets_exactly_the_variables_it_reads(any_app, role):
    name, _ = FUNCTIONS[role]
    variables = function_properties(any_app, name)["Environment"]["Variables"]
    expected = dict(ENVIRONMENTS[role]) | {"BUCKET_NAME": frame_bucket_name(any_app)}
    if any_app.context["index_backend"] == "s3vectors" and role in ("search", "batch"):
        # S3 Vectors: where the index is (the default names; deployment/config.py).
        expected |= {
            "INDEX_BACKEND": "s3vectors",
            "VECTOR_BUCKET_NAME": "clip-frame-vectors",
            "VECTOR_INDEX_NAME": "frames",
            "VECTOR_DIMENSION": "512",
        }
    if role == "batch":
        expected["FRAME_CACHE"] = any_app.context["frame_cache"]
    if role == "extract" and not any_app.context["create_table"]:
        del expected["VIDEOS_KEY_INDEX"]  # an existing table has no index on original_key: a Scan
    if any_app.context["tracing"]:
        del expected["POWERTOOLS_TRACE_DISABLED"]
        expected["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] = "false"
    assert variables == expected


@pytest.mark.parametrize("role", FUNCTIONS)
def test_tracing_is_active_only_when_configured(default_app, options_app, role):
    name, _ = FUNCTIONS[role]
    assert "TracingConfig" not in function_properties(default_app, name)
    assert function_properties(options_app, name)["TracingConfig"] == {"Mode": "Active"}


def test_model_dir_comes_from_the_model_images():
    for role in ("clip", "batch"):
        dockerfile = (ROOT / f"lambda_{role}" / "Dockerfile").read_text()
        assert "ENV MODEL_DIR=/opt/model" in dockerfile, role


@pytest.mark.parametrize("role", FUNCTIONS)
def test_each_function_logs_to_its_own_group_with_retention(any_app, role):
    name, _ = FUNCTIONS[role]
    log_group_id = function_properties(any_app, name)["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = any_app.service.to_json()["Resources"][log_group_id]
    assert log_group["Properties"] == {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": 30}
    assert log_group["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize("role", FUNCTIONS)
def test_asset_mode_builds_each_dockerfile_from_the_repository_root(default_app, role):
    name, _ = FUNCTIONS[role]
    image = function_properties(default_app, name)["Code"]["ImageUri"]
    # The asset's image URI points into the CDK bootstrap repository.
    assert "cdk-clipsearch-container-assets" in str(image)
    manifest = (default_app.outdir / "ClipFrameSearch.assets.json").read_text()
    assert f'"dockerFile": "lambda_{role}/Dockerfile"' in manifest


def test_asset_build_context_holds_only_what_the_images_copy(default_app):
    import json

    manifest = json.loads((default_app.outdir / "ClipFrameSearch.assets.json").read_text())
    contexts = {
        asset["source"]["dockerFile"]: default_app.outdir / asset["source"]["directory"]
        for asset in manifest["dockerImages"].values()
    }
    for dockerfile, context in contexts.items():
        role = dockerfile.split("/")[0]
        top_level = {path.name for path in context.iterdir()}
        allowed = {role, "clipsearch", ".dockerignore"} | (
            {"requirements-model.lock", "requirements-export.lock", "requirements-torch.lock"}
            if role in ("lambda_clip", "lambda_batch")
            else set()
        )
        assert top_level <= allowed, f"{dockerfile}: context also holds {top_level - allowed}"
        assert not (context / "tests").exists()
        assert {path.suffix for path in (context / "clipsearch").rglob("*") if path.is_file()} == {".py"}


@pytest.mark.parametrize("role", FUNCTIONS)
def test_ecr_mode_runs_the_pushed_tag(existing_app, role):
    name, repository = FUNCTIONS[role]
    image = function_properties(existing_app, name)["Code"]["ImageUri"]
    rendered = str(image)
    assert f"/{repository}:3f9c2a1b7d0e" in rendered
    assert "AWS::AccountId" in rendered


def test_ecr_mode_deploys_after_the_repositories(existing_app):
    manifest = (existing_app.outdir / "manifest.json").read_text()
    import json

    artifacts = json.loads(manifest)["artifacts"]
    assert "ClipFrameSearch-Images" in artifacts["ClipFrameSearch"]["dependencies"]


def test_service_outputs(any_app):
    outputs = any_app.service.to_json()["Outputs"]
    expected = {
        "BucketName",
        "VideosTableName",
        "BatchFailureQueueUrl",
        "WorkQueueUrl",
        "WorkDeadLetterQueueUrl",
        "AlarmTopicArn",
        "DashboardName",
        "ApiUrl",  # every variant: api_auth=cognito (tests/infra/test_http_api.py has the others)
        "PageUrl",
        "UserPoolId",
        "RedeployContext",  # every variant creates something `cdk destroy` keeps (the repositories)
        *(f"{role.capitalize()}Function{kind}" for role in FUNCTIONS for kind in ("Name", "Arn")),
    }
    if any_app.context["index_backend"] == "s3vectors":
        expected.add("VectorIndexArn")
    if any_app.context["frame_extraction"]:
        expected |= {"IngestQueueUrl", "IngestDeadLetterQueueUrl"}
    assert set(outputs) == expected
    any_app.service.has_output("ClipFunctionArn", {"Value": {"Fn::GetAtt": [Match.any_value(), "Arn"]}})


def test_repository_outputs(default_app):
    outputs = default_app.images.to_json()["Outputs"]
    assert set(outputs) == {f"{role.capitalize()}RepositoryUri" for role in FUNCTIONS}


def test_the_model_images_are_built_in_the_configured_precision(default_app, options_app):
    """`precision` becomes the model Dockerfiles' PRECISION build argument (int8 is gated there)."""
    import json

    for app, precision in ((default_app, "fp32"), (options_app, "int8")):
        manifest = json.loads((app.outdir / "ClipFrameSearch.assets.json").read_text())
        build_args = {
            asset["source"]["dockerFile"]: asset["source"].get("dockerBuildArgs")
            for asset in manifest["dockerImages"].values()
        }
        assert build_args == {
            "lambda_clip/Dockerfile": {"PRECISION": precision},
            "lambda_batch/Dockerfile": {"PRECISION": precision},
            "lambda_search/Dockerfile": None,
            "lambda_extract/Dockerfile": None,
        }


@pytest.mark.parametrize(("role", "reserved"), [("clip", 10), ("search", 10), ("batch", None)])
def test_the_search_path_has_its_own_share_of_the_accounts_concurrency(any_app, role, reserved):
    """A backfill (the batch function, at most batch_max_concurrency) cannot starve searches."""
    name, _ = FUNCTIONS[role]
    assert function_properties(any_app, name).get("ReservedConcurrentExecutions") == reserved
