"""The Makefile's deploy path with stub `aws`, `docker`, `git` and `npx` on PATH: what it runs, and
that it stops on a failure on every make (macOS ships GNU make 3.81, which ignores .SHELLFLAGS)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from local.stack import free_port
from tests.ci.test_push_images import CHOSEN, MAKE, NPX_STUB, ROOT, stub_environment

# make 3.81 runs each recipe line with `$(SHELL) -c`, whatever .SHELLFLAGS says: the same as here.
MAKE_3_81 = [*MAKE, ".SHELLFLAGS=-c"]


def make(
    tmp_path: Path, *args: str, make_command: list[str] = MAKE, **env: str
) -> tuple[int, str, list[str]]:
    environment = stub_environment(tmp_path, **env)
    npx = Path(environment["PATH"].split(os.pathsep)[0]) / "npx"
    npx.write_text(NPX_STUB)
    npx.chmod(0o755)
    result = subprocess.run(
        [*make_command, *args], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    return result.returncode, result.stdout + result.stderr, (tmp_path / "calls.log").read_text().splitlines()


@pytest.mark.parametrize("target", ["deploy", "diff"])
@pytest.mark.parametrize("make_command", [MAKE, MAKE_3_81], ids=["make-4", "make-3.81"])
def test_a_failed_digest_lookup_stops_before_cdk_on_every_make(tmp_path, target, make_command):
    status, output, calls = make(
        tmp_path,
        target,
        "IMAGE_SOURCE=ecr",
        "IMAGE_TAG=abc123",
        f"CDK_ARGS={CHOSEN}",
        make_command=make_command,
        PUSHED="",
    )
    assert status != 0, output
    assert not [call for call in calls if call.startswith("npx")], calls


@pytest.mark.parametrize("make_command", [MAKE, MAKE_3_81], ids=["make-4", "make-3.81"])
def test_an_invalid_configuration_stops_deploy_images_before_cdk_on_every_make(tmp_path, make_command):
    status, output, calls = make(
        tmp_path, "deploy-images", "CDK_ARGS=-c region=moon", make_command=make_command
    )
    assert status != 0
    assert "region: String should match pattern" in output
    assert not [call for call in calls if call.startswith("npx")], calls


@pytest.mark.parametrize(
    ("args", "stacks"),
    [
        # asset mode: the images go to the bootstrap's repository, ours would stand unused
        ((f"CDK_ARGS={CHOSEN}",), "ClipFrameSearch"),
        (
            ("IMAGE_SOURCE=ecr", "IMAGE_TAG=abc123", f"CDK_ARGS={CHOSEN}"),
            "ClipFrameSearch-Images ClipFrameSearch",
        ),
        # the CI set-up stack is never among them, even when cdk.json keeps it
        ((f"CDK_ARGS={CHOSEN} -c ci_setup=true -c github_repository=acme/frames",), "ClipFrameSearch"),
        (("STACKS=ClipFrameSearch-CiSetup", f"CDK_ARGS={CHOSEN}"), "ClipFrameSearch-CiSetup"),
    ],
)
def test_deploy_acts_on_the_configurations_stacks_only(tmp_path, args, stacks):
    pushed = "lambda-clip-inference lambda-clip-search lambda-clip-batch lambda-clip-extract"
    status, output, calls = make(tmp_path, "deploy", "APPROVAL=never", *args, PUSHED=pushed)
    assert status == 0, output
    (deploy,) = [call for call in calls if call.startswith("npx")]
    assert deploy.startswith(f"npx --no-install cdk --no-notices deploy {stacks} --require-approval never")


@pytest.mark.parametrize(
    ("cdk_args", "named"),
    [
        ("", ["bucket_name", "alarm_email"]),
        ("-c bucket_name=acme-frames", ["alarm_email"]),
        ("-c alarm_email=ops@example.com", ["bucket_name"]),
    ],
)
def test_deploy_refuses_the_unchosen_bucket_and_alarm_address_naming_the_keys(tmp_path, cdk_args, named):
    status, output, calls = make(tmp_path, "deploy", f"CDK_ARGS={cdk_args}")
    assert status != 0
    assert "not ready to deploy" in output
    for key in named:
        assert f"{key}: choose" in output
    assert not [call for call in calls if call.startswith(("npx", "aws"))], calls


def test_redeploy_context_names_the_retained_bucket_in_the_credentials_account(tmp_path):
    """The account from the AWS CLI, the retained table's stream from DynamoDB (moto's server)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        # moto's backends live in this process: start from nothing, whatever an earlier test left.
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        stream = boto3.client(
            "dynamodb",
            region_name="ap-southeast-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_table(
            TableName="videos",
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        status, output, calls = make(
            tmp_path,
            "-s",
            "redeploy-context",
            "CDK_ARGS=-c bucket_name=acme-frames",
            AWS_ENDPOINT_URL_DYNAMODB=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
    finally:
        server.stop()
    assert status == 0, output
    assert output.split() == [
        "-c", "create_bucket=false", "-c", "bucket_name=acme-frames-111122223333-ap-southeast-1",
        "-c", "create_table=false", "-c", "table_name=videos", "-c", f"videos_stream_arn={stream}",
    ]  # fmt: skip
    assert calls == ["aws sts get-caller-identity --query Account --output text"]


def test_destroy_says_the_user_pool_and_its_users_go_and_needs_the_stack_name_typed(tmp_path):
    status, output, calls = make(tmp_path, "destroy")
    assert status != 0
    assert "DELETES the Cognito user pool ap-southeast-1_Pool1 and its 7 users" in output
    assert "make destroy CONFIRM=ClipFrameSearch" in output
    assert not [call for call in calls if call.startswith("npx")], calls


@pytest.mark.parametrize("user_pool", ["ap-southeast-1_Pool1", "None"], ids=["cognito", "no-user-pool"])
def test_destroy_confirmed_deletes_the_deploy_stacks(tmp_path, user_pool):
    status, output, calls = make(tmp_path, "destroy", "CONFIRM=ClipFrameSearch", USER_POOL=user_pool)
    assert status == 0, output
    assert ("user pool" in output) == (user_pool != "None")
    (destroy,) = [call for call in calls if call.startswith("npx")]
    assert destroy.startswith("npx --no-install cdk --no-notices destroy ClipFrameSearch --force")


def test_destroy_refuses_another_stacks_name(tmp_path):
    status, _, calls = make(tmp_path, "destroy", "CONFIRM=ClipFrameSearch-dev")
    assert status != 0
    assert not [call for call in calls if call.startswith("npx")]


@pytest.mark.parametrize(
    ("env", "args", "deploys", "says"),
    [
        # a new account: quota 10, all of it unreserved; Lambda keeps 10, so nothing can be reserved
        ({"QUOTA": "10", "UNRESERVED": "10"}, "", False, "search_reserved_concurrency: reserving 10"),
        ({"QUOTA": "10", "UNRESERVED": "10"}, " -c search_reserved_concurrency=0", True, ""),
        ({"QUOTA": "1000", "UNRESERVED": "1000"}, "", True, ""),
        # a redeploy: our own reservations (10 each) go back into the pool first
        ({"QUOTA": "30", "UNRESERVED": "10", "RESERVED_NOW": "10"}, "", True, ""),
        (
            {"QUOTA": "30", "UNRESERVED": "10", "RESERVED_NOW": "10"},
            " -c batch_max_concurrency=20",
            True,
            "batch_max_concurrency 20 is more than the 10 left unreserved",
        ),
    ],
    ids=["quota-10", "quota-10-no-reservation", "quota-1000", "redeploy-quota-30", "backfill-throttled"],
)
def test_deploy_checks_the_accounts_concurrency_quota_first(tmp_path, env, args, deploys, says):
    status, output, calls = make(tmp_path, "deploy", f"CDK_ARGS={CHOSEN}{args}", **env)
    assert (status == 0) is deploys, output
    assert says in output
    assert bool([call for call in calls if call.startswith("npx")]) is deploys


EXEC_POLICY = "arn:aws:iam::111122223333:policy/ClipFrameSearch-cfn-exec-clipsearch-ap-southeast-1-"


@pytest.mark.parametrize("exists", [False, True], ids=["first", "again"])
def test_bootstrap_scopes_the_execution_role_in_its_own_toolkit_stack(tmp_path, exists):
    status, output, calls = make(
        tmp_path, "bootstrap", "CDK_ARGS=--profile admin", POLICIES_EXIST="yes" if exists else ""
    )
    assert status == 0, output
    (bootstrap,) = [call for call in calls if call.startswith("npx")]
    assert bootstrap == (
        "npx --no-install cdk --no-notices bootstrap aws://111122223333/ap-southeast-1"
        " --qualifier clipsearch --toolkit-stack-name CDKToolkit-clipsearch"
        f" --cloudformation-execution-policies {EXEC_POLICY}1,{EXEC_POLICY}2 --profile admin"
    )
    iam = [call.split(" --")[0] for call in calls if call.startswith("aws iam")]
    if exists:  # a new default version, the old ones dropped (IAM keeps five)
        assert iam.count("aws iam create-policy-version") == 2
        assert iam.count("aws iam delete-policy-version") == 4
        assert "aws iam create-policy" not in iam
    else:
        assert iam.count("aws iam create-policy") == 2
    assert all(call.endswith("[profile admin]") for call in calls if call.startswith("aws "))


def test_bump_base_image_moves_every_dockerfiles_pin_to_the_tags_current_digest(tmp_path):
    """The documented bump path of the digest-pinned base images (make bump-base-image)."""
    import re
    import shutil

    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "bump-base-image.sh", copy / "scripts")
    for dockerfile in ROOT.glob("lambda_*/Dockerfile"):
        (copy / dockerfile.parent.name).mkdir()
        shutil.copy2(dockerfile, copy / dockerfile.parent.name)
    new = "sha256:" + "d" * 64
    environment = stub_environment(tmp_path)
    docker = Path(environment["PATH"].split(os.pathsep)[0]) / "docker"
    docker.write_text(f'#!/bin/sh\necho "docker $*" >> "$STUB_LOG"\necho \'"{new}"\'\n')
    result = subprocess.run(
        ["bash", str(copy / "scripts" / "bump-base-image.sh")],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for dockerfile in copy.glob("lambda_*/Dockerfile"):
        froms = re.findall(r"^FROM (\S+)", dockerfile.read_text(), re.M)
        assert froms
        assert all(image == f"public.ecr.aws/lambda/python:3.13@{new}" for image in froms), froms
    calls = (tmp_path / "calls.log").read_text().splitlines()
    inspect = "docker buildx imagetools inspect public.ecr.aws/lambda/python:3.13"
    assert set(calls) == {f"{inspect} --format {{{{json .Manifest.Digest}}}}"}
