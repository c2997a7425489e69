"""The GitHub Actions workflow: real linters, then what it may do and what it runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
WORKFLOW: dict[Any, Any] = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
JOBS = WORKFLOW["jobs"]
# YAML 1.1 reads the key `on` as True.
TRIGGERS: dict[str, Any] = WORKFLOW["on"] if "on" in WORKFLOW else WORKFLOW[True]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actionlint_passes(workflow):
    result = subprocess.run([BIN / "actionlint", str(workflow)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_github_workflow_schema(workflow):
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def steps(job: str) -> list[dict[str, Any]]:
    return list(JOBS[job]["steps"])


def test_triggers_pull_requests_and_main():
    assert "pull_request" in TRIGGERS
    assert TRIGGERS["push"] == {"branches": ["main"]}
    assert "pull_request_target" not in TRIGGERS  # never run untrusted code with secrets


def test_only_the_deploy_job_gets_an_oidc_token():
    assert WORKFLOW["permissions"] == {"contents": "read"}
    assert "permissions" not in JOBS["test"]
    assert JOBS["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_no_long_lived_keys():
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "secrets."):
        assert secret not in text
    (credentials,) = [s for s in steps("deploy") if "configure-aws-credentials" in s.get("uses", "")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"


def test_every_action_is_pinned_to_a_commit():
    for job in JOBS:
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_pull_requests_test_synthesize_and_keep_cdk_out():
    runs = [s["run"] for s in steps("test") if "run" in s]
    assert runs == ["make test", "make synth"]
    (upload,) = [s for s in steps("test") if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "cdk.out/"


def test_deploy_is_main_only_approved_and_never_concurrent():
    deploy = JOBS["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["environment"] == "production"
    assert deploy["concurrency"] == {"group": "deploy-production", "cancel-in-progress": False}


def test_ecr_mode_pushes_and_deploys_the_commit_sha():
    (ecr,) = [s for s in steps("deploy") if s.get("if") == "env.DEPLOY_IMAGE_SOURCE == 'ecr'"]
    assert ecr["run"].splitlines()[0] == "make deploy-images APPROVAL=never"
    assert 'make images IMAGE_TAG="$GITHUB_SHA"' in ecr["run"]
    assert 'make deploy IMAGE_SOURCE=ecr IMAGE_TAG="$GITHUB_SHA" APPROVAL=never' in ecr["run"]


def test_the_workflow_runs_only_makefile_targets_that_exist():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    commands = [
        line.strip() for job in JOBS for s in steps(job) if "run" in s for line in s["run"].splitlines()
    ]
    assert commands
    for command in commands:
        words = command.split()
        assert words[0] == "make", command
        assert words[1] in targets, command
    # and CI on this repository runs the same test command
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_stack_names_come_from_the_configuration_not_the_workflow():
    """The stack names follow `stack_name` in cdk.json (make deploy-images derives the images stack)."""
    assert "ClipFrameSearch" not in (ROOT / ".github/workflows/ci.yml").read_text()
