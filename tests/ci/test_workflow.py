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


def test_triggers_pull_requests_main_and_manual_runs_with_an_environment():
    assert "pull_request" in TRIGGERS
    assert TRIGGERS["push"] == {"branches": ["main"]}
    assert TRIGGERS["workflow_dispatch"]["inputs"]["environment"]["default"] == ""
    assert "pull_request_target" not in TRIGGERS  # never run untrusted code with secrets
    # a manual run's environment reaches every make command through CDK_ARGS
    assert WORKFLOW["env"]["CDK_ARGS"] == (
        "${{ inputs.environment && format('-c environment={0}', inputs.environment) || '' }}"
    )


def test_only_the_publish_deploy_and_pages_jobs_get_an_oidc_token():
    assert WORKFLOW["permissions"] == {"contents": "read"}
    oidc = {"contents": "read", "id-token": "write"}
    special = {"publish": oidc, "deploy": oidc, "pages": {**oidc, "pages": "write"}}
    for job in JOBS:
        assert JOBS[job].get("permissions") == special.get(job), job


def test_no_long_lived_keys_and_each_job_its_own_role():
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "secrets."):
        assert secret not in text
    for job, variable in (("deploy", "AWS_DEPLOY_ROLE_ARN"), ("publish", "AWS_IMAGE_ROLE_ARN")):
        (credentials,) = [s for s in steps(job) if "configure-aws-credentials" in s.get("uses", "")]
        assert credentials["with"]["role-to-assume"] == f"${{{{ vars.{variable} }}}}"


def test_every_action_is_pinned_to_a_commit():
    for job in JOBS:
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_tests_run_on_the_images_python_and_keep_cdk_out():
    assert "3.13" in JOBS["test"]["strategy"]["matrix"]["python"]  # lambda/python:3.13
    (python,) = [s for s in steps("test") if "setup-python" in s.get("uses", "")]
    assert python["with"]["python-version"] == "${{ matrix.python }}"
    runs = [s["run"] for s in steps("test") if "run" in s]
    assert runs == ["make test", "make synth"]
    (upload,) = [s for s in steps("test") if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "cdk.out/"
    for job in ("plan", "publish", "deploy"):
        (python,) = [s for s in steps(job) if "setup-python" in s.get("uses", "")]
        assert python["with"]["python-version"] == "3.13"


def test_main_and_manual_runs_deploy_after_approval_one_at_a_time_per_environment():
    deploy = JOBS["deploy"]
    assert deploy["needs"] == ["test", "plan", "publish"]
    # push to main and workflow_dispatch (on main) deploy; pull requests never do
    assert deploy["if"] == "github.event_name != 'pull_request' && github.ref == 'refs/heads/main'"
    assert deploy["environment"] == "${{ needs.plan.outputs.github-environment }}"
    assert deploy["concurrency"] == {
        "group": "deploy-${{ needs.plan.outputs.github-environment }}",
        "cancel-in-progress": False,
    }


def test_deploy_only_resolves_the_pushed_images_to_digests_and_builds_nothing():
    runs = [line for s in steps("deploy") if "run" in s for line in s["run"].splitlines()]
    assert runs == [
        'make check-deploy IMAGE_SOURCE=ecr IMAGE_TAG="$GITHUB_SHA"',
        'make deploy IMAGE_SOURCE=ecr IMAGE_TAG="$GITHUB_SHA" APPROVAL=never',
    ]
    assert not [s for s in steps("deploy") if "build-push-action" in s.get("uses", "")]


def test_the_workflow_runs_only_makefile_targets_that_exist():
    """Every job but pages, whose two commands (installing MkDocs, building the site) are checked in
    test_the_site_is_built_strictly_and_published_from_main_only."""
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    commands = [
        line.strip()
        for job in JOBS
        if job != "pages"
        for s in steps(job)
        if "run" in s
        for line in s["run"].splitlines()
    ]
    assert commands
    for command in commands:
        words = command.split()
        assert words[0] == "make", command
        assert words[1] in targets, command
    # and CI on this repository runs the same test command
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_stack_names_come_from_the_configuration_not_the_workflow():
    assert "ClipFrameSearch" not in (ROOT / ".github/workflows/ci.yml").read_text()


# --- #26.1, #26.15: build once, from the configuration; only what changed on a pull request


def build_step(job: str) -> dict[str, Any]:
    (build,) = [s for s in steps(job) if "build-push-action" in s.get("uses", "")]
    return build


def test_images_are_built_from_the_plan_with_its_build_arguments_on_the_shared_export_cache():
    for job in ("images", "publish"):
        assert JOBS[job]["strategy"]["matrix"]["image"] == "${{ fromJSON(needs.plan.outputs.images) }}"
        assert JOBS[job]["needs"] == ["plan", "export"]
        build = build_step(job)["with"]
        assert build["context"] == "."  # the repository root, as make images builds
        assert build["file"] == "${{ matrix.image.file }}"
        assert build["build-args"] == "${{ matrix.image.build-args }}"  # PRECISION: the int8 gate runs here
        assert build["platforms"] == "linux/amd64"
        assert build["cache-from"].splitlines() == [
            "type=gha,scope=export",
            "type=gha,scope=${{ matrix.image.role }}",
        ]
        assert build["cache-to"] == "type=gha,mode=max,scope=${{ matrix.image.role }}"
    assert build_step("images")["with"]["push"] is False
    assert build_step("publish")["with"]["push"] is True
    assert build_step("publish")["with"]["tags"].endswith(
        "${{ matrix.image.repository }}:${{ matrix.image.tag }}"
    )
    export = build_step("export")["with"]
    assert (export["target"], export["cache-to"]) == ("export", "type=gha,mode=max,scope=export")
    assert export["push"] is False


def test_pull_requests_build_and_main_pushes_each_image_once():
    assert "github.event_name == 'pull_request'" in JOBS["images"]["if"]
    assert "needs.plan.outputs.images != '[]'" in JOBS["images"]["if"]  # nothing changed: nothing built
    assert "github.event_name != 'pull_request'" in JOBS["publish"]["if"]
    assert JOBS["publish"]["environment"] == "${{ needs.plan.outputs.github-environment }}-images"
    (pushed,) = [s for s in steps("publish") if s.get("id") == "pushed"]
    later = [s for s in steps("publish") if steps("publish").index(s) > steps("publish").index(pushed)]
    assert all(s.get("if") == "steps.pushed.outputs.digest == ''" for s in later)  # a re-run keeps it
    plan = next(s for s in steps("plan") if s.get("id") == "plan")
    assert plan["run"] == 'make image-plan IMAGE_TAG="$GITHUB_SHA" BASE="$BASE" >> "$GITHUB_OUTPUT"'
    assert plan["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"


def plan(monkeypatch, capsys, changed: list[str] | None, *args: str) -> dict[str, Any]:
    import json

    from scripts import image_plan

    monkeypatch.setattr(image_plan, "changed_since", lambda base: changed)
    assert image_plan.main(["--tag", "f00d", *(["--base", "b"] if changed is not None else []), *args]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    return {
        "images": json.loads(lines["images"]),
        "export": lines["export"],
        "env": lines["github-environment"],
    }


def test_the_plan_takes_roles_build_arguments_and_tags_from_the_configuration(monkeypatch, capsys):
    found = plan(monkeypatch, capsys, None, "-c", "precision=int8")
    assert [(i["role"], i["build-args"], i["tag"]) for i in found["images"]] == [
        ("clip", "PRECISION=int8", "f00d-int8"),
        ("search", "", "f00d"),
        ("batch", "PRECISION=int8", "f00d-int8"),
        ("extract", "", "f00d"),
    ]
    assert found["env"] == "production"
    assert plan(monkeypatch, capsys, None, "-c", "environment=dev")["env"] == "dev"


@pytest.mark.parametrize(
    ("changed", "roles"),
    [
        (["README.md", "docs/decisions/0011-bootstrap-and-build-once.md", "tests/ci/test_workflow.py"], []),
        (["mkdocs.yml", "docs/operators/ci.md", "docs/images/moments-page.png", "tests/docs/pages.py"], []),
        (["lambda_search/app.py"], ["search"]),
        (["clipsearch/model/export_onnx.py"], ["clip", "search", "batch", "extract"]),
        (["requirements-model.lock"], ["clip", "batch"]),
        (["requirements-model.txt"], []),  # the images install the lock; the lock test keeps them in step
        (["lambda_batch/Dockerfile"], ["batch"]),
    ],
)
def test_a_pull_request_builds_only_the_images_its_changes_reach(monkeypatch, capsys, changed, roles):
    found = plan(monkeypatch, capsys, changed)
    assert [image["role"] for image in found["images"]] == roles
    assert (found["export"] != "") == bool({"clip", "batch"} & set(roles))


def test_tests_never_queue_behind_a_deploy_and_deploys_queue_only_behind_deploys():
    assert "concurrency" not in WORKFLOW  # a waiting deploy would hold a workflow-level group
    groups = {job: JOBS[job]["concurrency"]["group"] for job in JOBS if "concurrency" in JOBS[job]}
    assert JOBS["deploy"]["concurrency"]["cancel-in-progress"] is False  # never cancel a deploy
    assert JOBS["publish"]["concurrency"]["cancel-in-progress"] is False  # nor a push
    for job in ("test", "export"):
        assert "deploy" not in groups[job]
        assert "${{ github.ref }}" in groups[job]
        # superseded pull request runs stop; main's runs all finish
        assert JOBS[job]["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert len(set(groups.values())) == len(groups)


# --- #16.10: supported action majors, caches, what the deploy job installs, session length

# The first majors that run on Node 24 (GitHub retires Node 20 on its runners).
SUPPORTED_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/setup-node": 6,
    "actions/upload-artifact": 6,
    "aws-actions/configure-aws-credentials": 6,
    "docker/setup-buildx-action": 4,
    "docker/build-push-action": 7,
    "actions/upload-pages-artifact": 5,  # v5 uploads with actions/upload-artifact v7
    "actions/deploy-pages": 5,
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
    assert set(runs) == {"check-deploy", "deploy"}
    makefile = (ROOT / "Makefile").read_text()
    targets = (
        "check-config",
        "check-deploy",
        "synth",
        "diff",
        "deploy",
        "deploy-images",
        "destroy",
        "images",
    )
    for target in (*targets, "image-plan", "image-pushed", "ecr-login", "bootstrap"):
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
    (role,) = [r for k, r in ci_app.ci_setup.find_resources("AWS::IAM::Role").items() if "Deploy" in k]
    assert duration <= role["Properties"]["MaxSessionDuration"]


# --- #25.4: the documentation site, built strictly and published to GitHub Pages from main


def test_the_site_is_built_strictly_and_published_from_main_only():
    pages = JOBS["pages"]
    assert pages["needs"] == "test"  # after every Python of the tests job, the site's strict build among them
    assert pages["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert pages["environment"]["name"] == "github-pages"
    assert pages["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    install, build = [s["run"] for s in steps("pages") if "run" in s]
    assert build == "python -m mkdocs build --strict --site-dir site"
    # MkDocs and its extensions at requirements-dev.txt's pins, which the tests build with
    pattern = r"grep -E '\^\(([\w|-]+)\)==' requirements-dev\.txt \| pip install -r /dev/stdin"
    packages = re.fullmatch(pattern, install)
    assert packages, install
    pinned = dict(re.findall(r"^([\w-]+)==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M))
    assert set(packages.group(1).split("|")) == {"mkdocs", "mkdocs-material", "pymdown-extensions"}
    assert set(packages.group(1).split("|")) <= set(pinned)
    uses = [s["uses"].split("@")[0] for s in steps("pages") if "uses" in s]
    assert uses[-2:] == ["actions/upload-pages-artifact", "actions/deploy-pages"]
    (upload,) = [s for s in steps("pages") if "upload-pages-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "site"
