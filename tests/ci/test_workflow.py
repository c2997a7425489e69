"""The GitHub Actions workflow: real linters, then what it may do and what it runs."""

from __future__ import annotations

import os
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
    assert deploy["needs"] == ["test", "images"]
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


# --- #16.4: pull requests build the images


def test_pull_requests_build_the_three_images_without_pushing_with_layer_caching():
    images = JOBS["images"]
    assert "if" not in images  # pull requests and main alike
    assert images["strategy"]["matrix"]["image"] == ["clip", "search", "batch"]
    uses = [s["uses"].split("@")[0] for s in steps("images") if "uses" in s]
    assert uses == ["actions/checkout", "docker/setup-buildx-action", "docker/build-push-action"]
    (build,) = [s for s in steps("images") if "build-push-action" in s.get("uses", "")]
    assert build["with"]["push"] is False
    assert build["with"]["context"] == "."  # the repository root, as make images builds
    assert build["with"]["file"] == "lambda_${{ matrix.image }}/Dockerfile"
    assert build["with"]["platforms"] == "linux/amd64"
    assert build["with"]["cache-from"] == "type=gha,scope=${{ matrix.image }}"
    assert build["with"]["cache-to"] == "type=gha,mode=max,scope=${{ matrix.image }}"
    assert "permissions" not in images  # read-only token, no AWS
    for role in ("clip", "search", "batch"):
        assert (ROOT / f"lambda_{role}" / "Dockerfile").exists()


# --- #16.8: concurrency


def test_tests_never_queue_behind_a_deploy_and_deploys_queue_only_behind_deploys():
    assert "concurrency" not in WORKFLOW  # a waiting deploy would hold a workflow-level group
    groups = {job: JOBS[job]["concurrency"]["group"] for job in JOBS}
    assert groups["deploy"] == "deploy-production"
    assert JOBS["deploy"]["concurrency"]["cancel-in-progress"] is False  # never cancel a deploy
    for job in ("test", "images"):
        assert "deploy" not in groups[job]
        assert "${{ github.ref }}" in groups[job]
        # superseded pull request runs stop; main's runs all finish
        assert JOBS[job]["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert len(set(groups.values())) == len(groups)


# --- #16.9: IMAGE_SOURCE


def make_wrapper(tmp_path: Path) -> dict[str, str]:
    """`make` as the workflow calls it, minus installing (the .venv and node_modules are here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_make = subprocess.run(["which", "make"], capture_output=True, text=True, check=True).stdout.strip()
    installed = "-o .venv/.installed -o .venv/.deploy-installed -o node_modules/.installed"
    (bin_dir / "make").write_text(f'#!/bin/sh\nexec {real_make} --no-print-directory {installed} "$@"\n')
    (bin_dir / "make").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_SHA": "a" * 40}


@pytest.mark.parametrize(
    ("image_source", "valid"), [("asset", True), ("ecr", True), ("s3", False), ("ECR ", False)]
)
def test_an_unknown_image_source_fails_the_deploy_job_before_it_gets_credentials(
    tmp_path, image_source, valid
):
    deploy_steps = steps("deploy")
    (check,) = [s for s in deploy_steps if "IMAGE_SOURCE" in s.get("name", "") and "run" in s]
    credentials = next(
        i for i, s in enumerate(deploy_steps) if "configure-aws-credentials" in s.get("uses", "")
    )
    assert deploy_steps.index(check) < credentials
    assert "if" not in check
    assert "continue-on-error" not in check
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", check["run"]],
        cwd=ROOT,
        env={**make_wrapper(tmp_path), "DEPLOY_IMAGE_SOURCE": image_source},
        capture_output=True,
        text=True,
    )
    assert (result.returncode == 0) is valid, result.stdout + result.stderr
    if not valid:
        assert "image_source: Input should be 'asset' or 'ecr'" in result.stderr
    # the deploy steps cover exactly the valid values
    conditions = {s.get("if") for s in deploy_steps if "make deploy" in s.get("run", "")}
    assert conditions == {"env.DEPLOY_IMAGE_SOURCE == 'asset'", "env.DEPLOY_IMAGE_SOURCE == 'ecr'"}


# --- #16.10: supported action majors, caches, what the deploy job installs, session length

SUPPORTED_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/setup-node": 5,
    "actions/upload-artifact": 5,
    "aws-actions/configure-aws-credentials": 5,
    "docker/setup-buildx-action": 3,
    "docker/build-push-action": 6,
}


def test_every_action_is_a_supported_major_pinned_by_sha():
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    pins = re.findall(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v(\d+)\.\d+\.\d+$", text, re.M)
    assert len(pins) == text.count("uses: ")
    for action, _, major in pins:
        assert int(major) >= SUPPORTED_MAJORS[action], action
    # one SHA per action everywhere
    assert len({(action, sha) for action, sha, _ in pins}) == len({action for action, _, _ in pins})


def test_pip_and_npm_caches():
    for job in ("test", "deploy"):
        (python,) = [s for s in steps(job) if "setup-python" in s.get("uses", "")]
        (node,) = [s for s in steps(job) if "setup-node" in s.get("uses", "")]
        assert python["with"]["cache"] == "pip"
        assert node["with"]["cache"] == "npm"
    (deploy_python,) = [s for s in steps("deploy") if "setup-python" in s.get("uses", "")]
    assert deploy_python["with"]["cache-dependency-path"] == "requirements.txt"


def test_the_deploy_job_installs_only_what_deploying_needs():
    runs = [line.split()[1] for s in steps("deploy") if "run" in s for line in s["run"].splitlines()]
    assert set(runs) == {"check-config", "deploy", "deploy-images", "images"}
    makefile = (ROOT / "Makefile").read_text()
    for target in ("check-config", "synth", "diff", "deploy", "deploy-images", "destroy", "images"):
        assert re.search(rf"^{target}: install-deploy ", makefile, re.M), target
    assert "$(VENV)/.deploy-installed: requirements.txt\n" in makefile
    assert "-r requirements.txt\n" in makefile
    requirements = (ROOT / "requirements.txt").read_text()
    assert "torch" not in requirements
    assert re.search(r"^jsii==\d+\.\d+\.\d+$", requirements, re.M)  # jsii pinned too


def test_the_oidc_session_outlasts_the_deploy_job(tmp_path):
    from tests.infra.conftest import CI_SETUP, synthesize

    ci_app = synthesize(tmp_path, **CI_SETUP)
    (credentials,) = [s for s in steps("deploy") if "configure-aws-credentials" in s.get("uses", "")]
    duration = credentials["with"]["role-duration-seconds"]
    assert duration >= JOBS["deploy"]["timeout-minutes"] * 60
    assert ci_app.ci_setup is not None
    (role,) = ci_app.ci_setup.find_resources("AWS::IAM::Role").values()
    assert duration <= role["Properties"]["MaxSessionDuration"]
