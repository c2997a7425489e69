"""Environments (#16.5) and redeploying onto what `cdk destroy` keeps (#16.6)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployment.cli import main
from deployment.context import load_config
from tests.infra.conftest import CDK_CONTEXT, CI_SETUP, Synthesized, synthesize, without_page

# Properties that name a resource physically; anything else gets a unique name from CloudFormation.
# (An S3 Vectors IndexName is not one: it is unique only within its vector bucket, which is named.)
NAME_PROPERTIES = (
    "BucketName", "TableName", "FunctionName", "RepositoryName", "LogGroupName", "DashboardName",
    "QueueName", "TopicName", "AlarmName", "RoleName", "KeyAlias", "AliasName", "Url", "VectorBucketName",
)  # fmt: skip


def templates(app: Synthesized) -> list[Any]:
    found: list[Any] = [app.images.to_json(), app.service.to_json()]
    return found if app.ci_setup is None else [*found, app.ci_setup.to_json()]


def physical_names(app: Synthesized) -> set[tuple[str, str, str]]:
    """(resource type, property, name) of every named resource the app creates."""
    return {
        (resource["Type"], key, value)
        for template in templates(app)
        for resource in template["Resources"].values()
        for key, value in resource.get("Properties", {}).items()
        if key in NAME_PROPERTIES and isinstance(value, str)
    }


def stack_names(app: Synthesized) -> set[str]:
    return {path.name.removesuffix(".template.json") for path in app.template_files()}


@pytest.fixture(scope="module")
def environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    return {
        # With the S3 Vectors index, so that its vector bucket's name is checked too.
        name: synthesize(
            tmp_path_factory.mktemp(f"env-{name or 'default'}"),
            environment=name,
            index_backend="s3vectors",
            **CI_SETUP,
        )
        for name in ("", "dev", "prod")
    }


def test_the_default_environment_keeps_the_guides_names(environments):
    names = {name for _, _, name in physical_names(environments[""])}
    assert {"totgo1", "videos", "clip-inference", "clip-search", "clip-batch-embed"} <= names
    assert {"lambda-clip-inference", "lambda-clip-search", "lambda-clip-batch"} <= names
    assert {"/aws/lambda/clip-inference", "ClipFrameSearch", "totgo1-access-logs"} <= names
    assert "clip-frame-vectors" in names
    assert stack_names(environments[""]) == {
        "ClipFrameSearch", "ClipFrameSearch-Images", "ClipFrameSearch-CiSetup"
    }  # fmt: skip


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_a_named_environment_suffixes_every_physical_name(environments, environment):
    named = physical_names(environments[environment])
    assert named
    for resource_type, key, name in named:
        assert environment in name, (resource_type, key, name)
    assert ("AWS::S3::Bucket", "BucketName", f"totgo1-{environment}-ap-southeast-1") in named
    assert ("AWS::Lambda::Function", "FunctionName", f"clip-inference-{environment}") in named
    assert ("AWS::DynamoDB::Table", "TableName", f"videos-{environment}") in named
    # unique per account and region, so the environment alone keeps it apart
    assert ("AWS::S3Vectors::VectorBucket", "VectorBucketName", f"clip-frame-vectors-{environment}") in named
    assert all(f"ClipFrameSearch-{environment}" in stack for stack in stack_names(environments[environment]))


def test_environments_in_one_account_share_no_physical_name(environments):
    for first, second in (("", "dev"), ("", "prod"), ("dev", "prod")):
        one, other = environments[first], environments[second]
        assert not {n for _, _, n in physical_names(one)} & {n for _, _, n in physical_names(other)}
        assert not stack_names(one) & stack_names(other)


def test_only_the_default_environment_creates_the_accounts_github_oidc_provider(environments):
    def providers(app: Synthesized) -> int:
        assert app.ci_setup is not None
        return len(app.ci_setup.find_resources("AWS::IAM::OIDCProvider"))

    assert providers(environments[""]) == 1
    assert providers(environments["dev"]) == providers(environments["prod"]) == 0
    trust = environments["dev"].ci_setup.to_json()
    assert ":oidc-provider/token.actions.githubusercontent.com" in str(trust)


def test_the_bucket_name_carries_the_region_in_a_named_environment():
    config = load_config({**CDK_CONTEXT, "environment": "dev", "region": "eu-west-1"})
    assert config.physical_bucket_name == "totgo1-dev-eu-west-1"
    # existing resources are named as given
    existing = load_config(
        {**CDK_CONTEXT, "environment": "dev", "create_bucket": False, "create_table": False}
    )
    assert (existing.physical_bucket_name, existing.physical_table_name) == ("totgo1", "videos")


# --- #16.6: what destroy keeps, and redeploying onto it


def test_retained_buckets_keep_their_policies_and_the_log_bucket_is_named(default_app):
    policies = without_page(default_app.service.find_resources("AWS::S3::BucketPolicy"))
    assert len(policies) == 2  # the bucket's (SSL only) and the log bucket's (logging grant)
    for policy in policies.values():
        assert policy["DeletionPolicy"] == "Retain"
        assert policy["UpdateReplacePolicy"] == "Retain"
    buckets = without_page(default_app.service.find_resources("AWS::S3::Bucket"))
    assert {bucket["Properties"].get("BucketName") for bucket in buckets.values()} == {
        "totgo1",
        "totgo1-access-logs",
    }
    assert all(bucket["DeletionPolicy"] == "Retain" for bucket in buckets.values())


def overrides(context: str) -> dict[str, str]:
    words = shlex.split(context)
    assert words[::2] == ["-c"] * (len(words) // 2)
    return dict(word.split("=", 1) for word in words[1::2])


RETAINED = ("AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::DynamoDB::Table", "AWS::ECR::Repository")
RETAINED_VECTOR_INDEX = ("AWS::S3Vectors::VectorBucket", "AWS::S3Vectors::Index")


@pytest.mark.parametrize(("environment", "index_backend"), [("", "memory"), ("dev", "s3vectors")])
def test_redeploy_onto_the_retained_resources_synthesizes_against_their_names(
    tmp_path, capsys, environment, index_backend
):
    created = load_config({**CDK_CONTEXT, "environment": environment, "index_backend": index_backend})
    with mock_aws():  # what `cdk destroy` retained: the table, with the stream it was created with
        stream_arn = boto3.client("dynamodb", region_name=created.region).create_table(
            TableName=created.physical_table_name,
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        printed = ["-c", f"environment={environment}", "-c", f"index_backend={index_backend}"]
        assert main([*printed, "--print", "redeploy_context"]) == 0  # as the README's step prints it
    context = overrides(capsys.readouterr().out.strip())
    vector_index = {"create_vector_index", "vector_bucket_name"} if index_backend == "s3vectors" else set()
    assert set(context) == {
        "create_bucket", "bucket_name", "create_table", "table_name", "videos_stream_arn",
        "create_repositories", "clip_repository_name", "search_repository_name", "batch_repository_name",
        *vector_index,
    }  # fmt: skip
    app = synthesize(Path(tmp_path), environment=environment, index_backend=index_backend, **context)
    # issue #22.8: the redeploy keeps indexing on change: the pipe reads the retained table's stream
    (pipe,) = app.service.find_resources("AWS::Pipes::Pipe").values()
    assert pipe["Properties"]["Source"] == stream_arn

    for kept in (*RETAINED, *RETAINED_VECTOR_INDEX):
        assert not without_page(app.service.find_resources(kept)), kept
        assert not app.images.find_resources(kept), kept
    service = str(app.service.to_json())
    if vector_index:
        # the functions and the roles' statements name the retained vector bucket and its index
        assert f"'VECTOR_BUCKET_NAME': '{created.physical_vector_bucket_name}'" in service
        assert f"bucket/{created.physical_vector_bucket_name}/index/frames" in service
    assert f"'BUCKET_NAME': '{created.physical_bucket_name}'" in service
    assert f"'VIDEOS_TABLE': '{created.physical_table_name}'" in service
    assert f"'BucketName': '{created.physical_bucket_name}'" in service  # the rule merged in
    assert f"table/{created.physical_table_name}" in service  # the search role reads that table
    images = str(app.images.to_json())
    for role in ("clip", "search", "batch"):
        assert f"/{getattr(created, role).repository_name}" in images
    # the functions keep the names they had
    functions = app.service.find_resources("AWS::Lambda::Function")
    names = {f["Properties"].get("FunctionName") for f in functions.values()}
    assert created.clip.function_name in names


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"environment": "Dev"}, "environment: String should match pattern"),
        ({"environment": "a-b"}, "environment: String should match pattern"),
        ({"environment": "staging", "bucket_name": "b" * 40}, "is longer than 63"),
        (
            {"environment": "staging", "index_backend": "s3vectors", "vector_bucket_name": "v" * 60},
            "vector_bucket_name: 'vvv",
        ),
    ],
)
def test_an_environment_name_fits_every_name_it_goes_into(overrides, message):
    from deployment.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config({**CDK_CONTEXT, **overrides})


def test_the_stack_prints_the_redeploy_context_with_its_tables_stream(default_app):
    (output,) = default_app.service.find_outputs("RedeployContext").values()
    (table_id,) = without_page(default_app.service.find_resources("AWS::DynamoDB::Table"))
    stream = {"Fn::GetAtt": [table_id, "StreamArn"]}  # resolved when deployed: `cdk deploy` prints it
    _, parts = output["Value"]["Fn::Join"]
    assert stream in parts
    printed = "".join(part if isinstance(part, str) else "<stream>" for part in parts)
    assert overrides(printed)["videos_stream_arn"] == "<stream>"


def test_an_existing_table_without_a_stream_is_a_loud_synth_warning():
    (warning,) = load_config({**CDK_CONTEXT, "create_table": False, "table_name": "videos"}).synth_warnings
    assert "no pipe indexes videos on change" in warning
    assert load_config(CDK_CONTEXT).synth_warnings == []
