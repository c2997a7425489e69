"""cdk-nag, cfn-lint and hadolint over what the app synthesizes and the images it builds."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, Synthesized

BIN = Path(sys.executable).parent
DOCKERFILES = sorted(ROOT.glob("lambda_*/Dockerfile"))


def test_cdk_nag_has_no_unacknowledged_findings(any_app: Synthesized):
    (report,) = any_app.validation_report["pluginReports"]
    assert report["pluginName"] == "AwsSolutions"
    assert report["violations"] == []
    assert report["conclusion"] == "success"


def test_every_acknowledgement_names_one_finding_with_a_reason_on_a_narrow_scope(any_app: Synthesized):
    (report,) = any_app.validation_report["pluginReports"]
    for suppressed in report["suppressedViolations"]:
        assert len(suppressed["reason"]) > 30, suppressed["ruleName"]
        # Never the whole stack or app: the construct that has the finding, or its parent.
        assert suppressed["acknowledgedAt"].count("/") >= 1, suppressed["acknowledgedAt"]
        for violating in suppressed["violatingConstructs"]:
            assert violating["constructPath"].startswith(suppressed["acknowledgedAt"] + "/")
        if suppressed["ruleName"].startswith("AwsSolutions-IAM5"):
            assert "[Resource::" in suppressed["ruleName"]  # one resource, never the whole rule


def test_cfn_lint_passes_every_template(any_app: Synthesized):
    result = subprocess.run(
        [BIN / "cfn-lint", "--ignore-checks", "W3005", "--", *map(str, any_app.template_files())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_passes(dockerfile: Path):
    result = subprocess.run(
        [BIN / "hadolint", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_image_contract_without_docker(dockerfile: Path):
    """CMD names a module and function that exist in the image; every COPY source exists."""
    instructions = dockerfile_instructions(dockerfile)
    copied: dict[str, Path] = {}  # path in the image (relative to the task root) -> source
    for keyword, argument in instructions:
        if keyword == "COPY":
            *sources, target = shlex.split(argument)
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: COPY {source} does not exist"
                if target.startswith("${LAMBDA_TASK_ROOT}"):
                    name = Path(source.rstrip("/")).name
                    copied[name] = ROOT / source
    (cmd,) = [argument for keyword, argument in instructions if keyword == "CMD"]
    (handler,) = json.loads(cmd)  # exec form, e.g. ["app.handler"]
    module, function = handler.rsplit(".", 1)
    handler_file = copied[f"{module}.py"]
    assert re.search(rf"^def {function}\(event.*, context", handler_file.read_text(), re.M), handler
    assert dockerfile_instructions(dockerfile)[0][1].startswith("public.ecr.aws/lambda/python:3.1")


def test_images_pin_the_torch_the_tests_run():
    """The CPU torch baked into the model images is the version the test suite exercised."""
    (dev_pin,) = re.findall(r"^torch==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    for dockerfile in ("lambda_clip/Dockerfile", "lambda_batch/Dockerfile"):
        (image_pin,) = re.findall(r"^ARG TORCH_VERSION=(\S+)$", (ROOT / dockerfile).read_text(), re.M)
        assert image_pin == dev_pin, dockerfile


def test_the_batch_image_is_the_clip_image_with_another_handler():
    """Both run the same model stack; the Dockerfiles may differ only in which handler they copy."""

    def without_handler(dockerfile: str) -> list[str]:
        lines = (ROOT / dockerfile).read_text().splitlines()
        return [line for line in lines[3:] if not re.match(r"COPY lambda_\w+/app\.py ", line)]

    assert without_handler("lambda_batch/Dockerfile") == without_handler("lambda_clip/Dockerfile")
