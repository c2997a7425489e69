"""scripts/push-images.sh with stub `aws` and `docker` on PATH: the commands it issues."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "push-images.sh"
REGISTRY = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com"

# Each stub appends its arguments (one line per call) to $STUB_LOG.
AWS_STUB = f"""#!/bin/sh
echo "aws $*" >> "$STUB_LOG"
case "$*" in
  *get-login-password*) echo secret-password ;;
  *ClipRepositoryUri*) echo "{REGISTRY}/lambda-clip-inference" ;;
  *SearchRepositoryUri*) echo "{REGISTRY}/lambda-clip-search" ;;
  *BatchRepositoryUri*) echo "${{BATCH_URI-{REGISTRY}/lambda-clip-batch}}" ;;
esac
"""
DOCKER_STUB = """#!/bin/sh
if [ "$1" = login ]; then stdin=" <stdin:$(cat)>"; else stdin=""; fi
echo "docker $*$stdin" >> "$STUB_LOG"
"""


def run(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("aws", AWS_STUB), ("docker", DOCKER_STUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(log),
        **env,
    }
    environment.pop("AWS_REGION", None)
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    return result, log.read_text().splitlines()


def describe(output: str, region: str = "ap-southeast-1", stack: str = "ClipFrameSearch-Images") -> str:
    query = f"Stacks[0].Outputs[?OutputKey=='{output}'].OutputValue"
    return (
        f"aws cloudformation describe-stacks --region {region} --stack-name {stack}"
        f" --query {query} --output text"
    )


def build(role: str, image: str) -> str:
    return f"docker build --platform linux/amd64 --provenance=false -f lambda_{role}/Dockerfile -t {image} ."


def test_logs_in_once_then_builds_and_pushes_the_three_images(tmp_path):
    result, calls = run(tmp_path, "abc123")
    assert result.returncode == 0, result.stderr
    images = {role: f"{REGISTRY}/{repo}:abc123" for role, repo in (
        ("clip", "lambda-clip-inference"), ("search", "lambda-clip-search"), ("batch", "lambda-clip-batch")
    )}  # fmt: skip
    assert calls == [
        describe("ClipRepositoryUri"),
        "aws ecr get-login-password --region ap-southeast-1",
        f"docker login --username AWS --password-stdin {REGISTRY} <stdin:secret-password>",
        build("clip", images["clip"]),
        f"docker push {images['clip']}",
        describe("SearchRepositoryUri"),
        build("search", images["search"]),
        f"docker push {images['search']}",
        describe("BatchRepositoryUri"),
        build("batch", images["batch"]),
        f"docker push {images['batch']}",
    ]
    assert "make deploy IMAGE_SOURCE=ecr IMAGE_TAG=abc123" in result.stdout


def test_region_and_stack_come_from_the_validated_config_with_the_same_overrides(tmp_path):
    result, calls = run(tmp_path, "t1", "-c", "stack_name=Frames", "-c", "region=eu-west-1")
    assert result.returncode == 0, result.stderr
    assert calls[0] == describe("ClipRepositoryUri", region="eu-west-1", stack="Frames-Images")
    assert "aws ecr get-login-password --region eu-west-1" in calls


def test_an_invalid_configuration_stops_before_any_aws_call(tmp_path):
    result, calls = run(tmp_path, "t1", "-c", "region=moon")
    assert result.returncode != 0
    assert "region: String should match pattern" in result.stderr
    assert calls == []


def test_a_missing_repository_output_stops_with_a_hint(tmp_path):
    result, calls = run(tmp_path, "t1", BATCH_URI="None")
    assert result.returncode != 0
    assert "make deploy-images" in result.stderr
    assert not any("lambda_batch" in call for call in calls)


def test_needs_a_tag(tmp_path):
    result, calls = run(tmp_path)
    assert result.returncode != 0
    assert calls == []


@pytest.mark.parametrize(
    "bash4_only",
    [
        r"\$\{\w+\^",
        r"\$\{\w+,",
        r"declare -A",
        r"\bmapfile\b",
        r"\breadarray\b",
        r"\|&",
        r"&>>",
        r"\bcoproc\b",
    ],
)
def test_portable_to_bash_3_2(bash4_only):
    assert not re.search(bash4_only, SCRIPT.read_text())


def test_never_reads_cdk_json_itself():
    assert "cdk.json" not in SCRIPT.read_text().split("set -euo pipefail", 1)[1]


def test_make_deploy_images_derives_the_stack_from_the_config(tmp_path):
    """What CI runs instead of naming the stack: a stub npx records the cdk command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npx").write_text('#!/bin/sh\necho "npx $*" >> "$STUB_LOG"\n')
    (bin_dir / "npx").chmod(0o755)
    log = tmp_path / "calls.log"
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log)}
    installed = ["-o", ".venv/.installed", "-o", "node_modules/.installed"]  # nothing to install here
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            *installed,
            "deploy-images",
            "APPROVAL=never",
            "CDK_ARGS=-c stack_name=Frames",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "npx --no-install cdk --no-notices deploy Frames-Images --require-approval never -c stack_name=Frames"
    ]
