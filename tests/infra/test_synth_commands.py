"""The two ways users synthesize, offline, as they run them: `python app.py` and the pinned CDK CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import EXISTING_RESOURCES_ECR, ROOT

OFFLINE = {
    **os.environ,
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    # No credentials: the synth must not need an account.
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_PROFILE": "",
}
VARIANTS = {
    "default": {},
    # As typed on a command line: true/false in lower case, the rest (an ARN) as it is.
    "existing-bucket-table-ecr": {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in EXISTING_RESOURCES_ECR.items()
    },
}
# `make synth CDK_ARGS="-c index_backend=s3vectors"`: through the CLI only (the session fixtures
# synthesize it in-process already).
CLI_VARIANTS = {**VARIANTS, "s3vectors": {"index_backend": "s3vectors"}}


def cli_context(variant: str) -> list[str]:
    return [arg for key, value in CLI_VARIANTS[variant].items() for arg in ("-c", f"{key}={value}")]


def stacks_in(outdir: Path) -> set[str]:
    return {path.name.removesuffix(".template.json") for path in outdir.glob("*.template.json")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_python_app_synthesizes(tmp_path, variant):
    # The CLI hands -c values to the app as CDK_CONTEXT_JSON; do the same for the bare script.
    env = {**OFFLINE, "CDK_OUTDIR": str(tmp_path), "CDK_CONTEXT_JSON": json.dumps(VARIANTS[variant])}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert stacks_in(tmp_path) == {"ClipFrameSearch", "ClipFrameSearch-Images"}
    assert result.stdout + result.stderr == ""  # issue #25.6: no warning, no banner, no stray line


# What `cdk synth --quiet` says of a good synth, and nothing else (issue #25.6): no warning, no
# unset feature flag (cdk.json sets each as `cdk flags --safe` recommends, and
# @aws-cdk/core:defaultCrossStackReferences to its recommended `weak`: the stacks share no reference).
CLI_RESULT = ("Successfully synthesized to ", "Supply a stack id (")


def cdk_synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    """The pinned CLI, as `make synth` runs it."""
    command = ["npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", str(outdir)]
    return subprocess.run(
        [*command, *context], cwd=ROOT, env=OFFLINE, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("variant", CLI_VARIANTS)
def test_pinned_cdk_cli_synthesizes(tmp_path, variant):
    result = cdk_synth(tmp_path, *cli_context(variant))
    assert result.returncode == 0, result.stderr[-3000:]
    assert stacks_in(tmp_path) == {"ClipFrameSearch", "ClipFrameSearch-Images"}
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert [line for line in said if not line.startswith(CLI_RESULT)] == [], said
    service = (tmp_path / "ClipFrameSearch.template.json").read_text()
    assert ('"AWS::S3Vectors::Index"' in service) == (variant == "s3vectors")


def test_cli_reports_a_bad_value_by_name(tmp_path):
    result = cdk_synth(tmp_path, "-c", "clip_memory_mb=lots", "-c", "index_backend=lucene")
    assert result.returncode != 0
    assert "clip_memory_mb: Input should be a valid integer" in result.stderr
    assert "index_backend: Input should be 'memory' or 's3vectors' (got 'lucene')" in result.stderr
