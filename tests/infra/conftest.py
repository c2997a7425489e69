"""Synthesize the CDK app once per test session for each configuration variant."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from app import build_app
from deployment.context import load_config, read_cdk_json_context
from tests.infra.iam_policy import BUCKET_KMS_KEY_ARN, VIDEOS_STREAM_ARN

ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = read_cdk_json_context(ROOT / "cdk.json")

# The user's own bucket and table (the video pipeline made them; the table has a stream) and images
# pushed by CI.
EXISTING_RESOURCES_ECR = {
    "create_bucket": False,
    "create_table": False,
    "videos_stream_arn": VIDEOS_STREAM_ARN,
    "image_source": "ecr",
    "image_tag": "3f9c2a1b7d0e",
}


# The optional CI set-up stack, the account's first (which creates GitHub's OIDC provider).
CI_SETUP = {
    "ci_setup": True,
    "github_repository": "acme/clip-frame-search",
    "create_github_oidc_provider": True,
}

# A created bucket's name in the template: bucket_name's stand-in (cdk.json chooses none), the account
# and the region (deployment/derived.py).
CREATED_BUCKET = {"Fn::Join": ["", ["totgo1-", {"Ref": "AWS::AccountId"}, "-ap-southeast-1"]]}


def frame_bucket_name(app: Synthesized) -> Any:
    """The frame bucket's name as the app's template holds it: created, or the existing one's."""
    return CREATED_BUCKET if app.context["create_bucket"] in (True, "true") else "totgo1"


# The options, on at once: X-Ray tracing, alarm e-mails, an SSE-KMS bucket, int8 model images, no
# per-frame cache files.
OPTIONS: dict[str, Any] = {
    "tracing": True,
    "precision": "int8",
    "frame_cache": "packed",
    "alarm_email": "ops@example.com",
    "bucket_kms_key_arn": BUCKET_KMS_KEY_ARN,
}


# The page's bucket (stacks/components/web_site.py) holds only files deployed from web/: created and
# deleted with the stack, never one of the retained or existing data buckets the storage tests mean.
PAGE_PREFIX = "WebSite"


def without_page(resources: Any) -> dict[str, Any]:
    """`find_resources` output less the page's own resources (logical ids under WebSite)."""
    return {key: value for key, value in resources.items() if not key.startswith(PAGE_PREFIX)}


# The S3 Vectors index backend, its vector bucket encrypted with the frame bucket's SSE-KMS key.
S3VECTORS: dict[str, Any] = {"index_backend": "s3vectors", "bucket_kms_key_arn": BUCKET_KMS_KEY_ARN}


@dataclass
class Synthesized:
    images: Template
    service: Template
    outdir: Path
    context: dict[str, Any]
    ci_setup: Template | None = None

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())

    @property
    def nag_report(self) -> dict[str, Any]:
        """cdk-nag's report (the validation report also carries CDK's own, e.g. the warnings)."""
        (report,) = [r for r in self.validation_report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
        return dict(report)

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("*.template.json"))


def synthesize(outdir: Path, **overrides: Any) -> Synthesized:
    context = {**CDK_CONTEXT, **overrides}
    app = App(context=context, outdir=str(outdir))
    images, service = build_app(app, load_config(context))
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    ci_stack = app.node.try_find_child(f"{service.stack_name}-CiSetup")
    ci_setup = Template.from_stack(ci_stack) if isinstance(ci_stack, Stack) else None
    return Synthesized(Template.from_stack(images), Template.from_stack(service), outdir, context, ci_setup)


@pytest.fixture(scope="session")
def default_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def existing_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-existing"), **EXISTING_RESOURCES_ECR)


@pytest.fixture(scope="session")
def ci_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-ci"), **CI_SETUP)


@pytest.fixture(scope="session")
def options_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-options"), **OPTIONS)


@pytest.fixture(scope="session")
def vectors_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-vectors"), **S3VECTORS)


@pytest.fixture(scope="session", params=["default", "existing", "ci", "options", "vectors"])
def any_app(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(f"{request.param}_app")
