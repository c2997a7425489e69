"""Environments (#16.5) and redeploying onto what `cdk destroy` keeps (#16.6)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployment.bootstrap_policy import covers
from deployment.cli import main
from deployment.context import load_config
from tests.infra.conftest import CDK_CONTEXT, CI_SETUP, Synthesized, synthesize, without_page

# Properties that name a resource physically; anything else gets a unique name from CloudFormation.
# (An S3 Vectors IndexName is not one: it is unique only within its vector bucket, which is named.)
NAME_PROPERTIES = (
    "BucketName", "TableName", "FunctionName", "RepositoryName", "LogGroupName", "DashboardName",
    "QueueName", "TopicName", "AlarmName", "RoleName", "KeyAlias", "AliasName", "Url", "VectorBucketName",
    "Domain", "ResponseHeadersPolicyConfig", "OriginAccessControlConfig",
)  # fmt: skip
# Names unique across AWS (S3 buckets; a Cognito domain prefix, within its region) or within an
# account whatever the region (CloudFront, CloudWatch dashboards, IAM): two regions, or two accounts,
# holding the same environment must not share one.
GLOBAL_TYPES = ("AWS::S3::Bucket",)
# Unique across accounts within a region: the Cognito domain prefix (<prefix>.auth.<region>...).
REGIONAL_ACROSS_ACCOUNTS_TYPES = ("AWS::Cognito::UserPoolDomain",)
ACCOUNT_WIDE_TYPES = (
    "AWS::CloudFront::ResponseHeadersPolicy", "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudWatch::Dashboard", "AWS::IAM::Role", "AWS::IAM::OIDCProvider", "AWS::IAM::ManagedPolicy",
)  # fmt: skip


def resolve(value: Any, account: str, region: str) -> str:
    """A name as CloudFormation makes it in `account` and `region` (pseudo parameters and joins)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::AccountId": account, "AWS::Region": region}.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(resolve(part, account, region) for part in parts)
    if "Name" in value:  # CloudFront's policies keep their name in their config
        return resolve(value["Name"], account, region)
    return f"<{sorted(value)[0]}>"


def templates(app: Synthesized) -> list[Any]:
    found: list[Any] = [app.images.to_json(), app.service.to_json()]
    return found if app.ci_setup is None else [*found, app.ci_setup.to_json()]


def physical_names(
    app: Synthesized, account: str = "111122223333", types: tuple[str, ...] = ()
) -> set[tuple[str, str, str]]:
    """(resource type, property, name) of every named resource the app creates (of `types`), in
    `account` and the app's region (a reference to another resource names nothing)."""
    found = {
        (resource["Type"], key, resolve(value, account, app.context["region"]))
        for template in templates(app)
        for resource in template["Resources"].values()
        if not types or resource["Type"] in types
        for key, value in resource.get("Properties", {}).items()
        if key in NAME_PROPERTIES
    }
    return {(kind, key, name) for kind, key, name in found if "<" not in name}


def names(app: Synthesized, account: str = "111122223333", types: tuple[str, ...] = ()) -> set[str]:
    return {name for _, _, name in physical_names(app, account, types)}


def stack_names(app: Synthesized) -> set[str]:
    return {path.name.removesuffix(".template.json") for path in app.template_files()}


@pytest.fixture(scope="module")
def environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """The default environment, `dev` and `prod` in ap-southeast-1, and `dev` in eu-west-1."""
    return {
        # With the S3 Vectors index, so that its vector bucket's name is checked too; the default
        # environment's CI set-up is the account's first (it creates GitHub's OIDC provider).
        f"{name}@{region}": synthesize(
            tmp_path_factory.mktemp(f"env-{name or 'default'}-{region}"),
            environment=name,
            region=region,
            index_backend="s3vectors",
            **{**CI_SETUP, "create_github_oidc_provider": not name},
        )
        for name, region in (
            ("", "ap-southeast-1"),
            ("dev", "ap-southeast-1"),
            ("prod", "ap-southeast-1"),
            ("dev", "eu-west-1"),
        )
    }


def test_the_default_environment_keeps_the_guides_names(environments):
    named = names(environments["@ap-southeast-1"])
    assert {"videos", "clip-inference", "clip-search", "clip-batch-embed"} <= named
    assert {"lambda-clip-inference", "lambda-clip-search", "lambda-clip-batch"} <= named
    assert {"/aws/lambda/clip-inference", "clip-frame-vectors"} <= named
    # a created bucket carries the account and region (bucket_name's stand-in: cdk.json chooses none)
    assert {"totgo1-111122223333-ap-southeast-1", "totgo1-111122223333-ap-southeast-1-access-logs"} <= named
    assert "ClipFrameSearch-ap-southeast-1" in named  # the dashboard: one per account
    assert stack_names(environments["@ap-southeast-1"]) == {
        "ClipFrameSearch", "ClipFrameSearch-Images", "ClipFrameSearch-CiSetup"
    }  # fmt: skip


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_a_named_environment_suffixes_every_physical_name(environments, environment):
    named = physical_names(environments[f"{environment}@ap-southeast-1"])
    assert named
    for resource_type, key, name in named:
        assert environment in name, (resource_type, key, name)
    bucket = f"totgo1-{environment}-111122223333-ap-southeast-1"
    assert ("AWS::S3::Bucket", "BucketName", bucket) in named
    assert ("AWS::Lambda::Function", "FunctionName", f"clip-inference-{environment}") in named
    assert ("AWS::DynamoDB::Table", "TableName", f"videos-{environment}") in named
    # unique per account and region, so the environment alone keeps it apart
    assert ("AWS::S3Vectors::VectorBucket", "VectorBucketName", f"clip-frame-vectors-{environment}") in named
    stacks = stack_names(environments[f"{environment}@ap-southeast-1"])
    assert all(f"ClipFrameSearch-{environment}" in stack for stack in stacks)


def test_environments_in_one_account_share_no_physical_name(environments):
    for first, second in (("", "dev"), ("", "prod"), ("dev", "prod")):
        one, other = environments[f"{first}@ap-southeast-1"], environments[f"{second}@ap-southeast-1"]
        assert not names(one) & names(other)
        assert not stack_names(one) & stack_names(other)


def test_one_environment_in_two_regions_shares_no_account_wide_or_global_name(environments):
    singapore, ireland = environments["dev@ap-southeast-1"], environments["dev@eu-west-1"]
    kinds = (*GLOBAL_TYPES, *ACCOUNT_WIDE_TYPES)
    assert names(singapore, types=kinds)  # the page's policies, the dashboard, the buckets, ...
    assert not names(singapore, types=kinds) & names(ireland, types=kinds)


def test_one_environment_in_two_accounts_shares_no_global_name(environments):
    app = environments["dev@ap-southeast-1"]
    kinds = (*GLOBAL_TYPES, *REGIONAL_ACROSS_ACCOUNTS_TYPES)
    first, second = names(app, "111122223333", kinds), names(app, "444455556666", kinds)
    assert first
    assert not first & second


def test_only_the_ci_set_up_asked_to_creates_the_accounts_github_oidc_provider_and_keeps_it(environments):
    def providers(app: Synthesized) -> Any:
        assert app.ci_setup is not None
        return app.ci_setup.find_resources("AWS::IAM::OIDCProvider")

    (provider,) = providers(environments["@ap-southeast-1"]).values()
    assert provider["DeletionPolicy"] == "Retain"  # the other environments' roles trust it
    for other in ("dev@ap-southeast-1", "prod@ap-southeast-1", "dev@eu-west-1"):
        assert providers(environments[other]) == {}
    trust = environments["dev@eu-west-1"].ci_setup.to_json()
    assert ":oidc-provider/token.actions.githubusercontent.com" in str(trust)


def test_a_created_bucket_carries_the_account_and_the_region():
    config = load_config(
        {**CDK_CONTEXT, "environment": "dev", "region": "eu-west-1", "bucket_name": "frames"}
    )
    assert config.physical_bucket_name("111122223333") == "frames-dev-111122223333-eu-west-1"
    # existing resources are named as given
    existing = load_config(
        {
            **CDK_CONTEXT,
            "environment": "dev",
            "create_bucket": False,
            "create_table": False,
            "bucket_name": "pip",
        }
    )
    assert (existing.physical_bucket_name("111122223333"), existing.physical_table_name) == ("pip", "videos")


# --- #16.6: what destroy keeps, and redeploying onto it


def test_retained_buckets_keep_their_policies_and_the_log_bucket_is_named(default_app):
    policies = without_page(default_app.service.find_resources("AWS::S3::BucketPolicy"))
    assert len(policies) == 2  # the bucket's (SSL only) and the log bucket's (logging grant)
    for policy in policies.values():
        assert policy["DeletionPolicy"] == "Retain"
        assert policy["UpdateReplacePolicy"] == "Retain"
    buckets = without_page(default_app.service.find_resources("AWS::S3::Bucket"))
    assert {resolve(bucket["Properties"]["BucketName"], "1", "r") for bucket in buckets.values()} == {
        "totgo1-1-ap-southeast-1",
        "totgo1-1-ap-southeast-1-access-logs",
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
    ecr = {"image_source": "ecr", "image_tag": "t1"}  # the repositories exist in ecr mode only
    created = load_config({**CDK_CONTEXT, "environment": environment, "index_backend": index_backend, **ecr})
    with mock_aws():  # what `cdk destroy` retained: the table, with the stream it was created with
        stream_arn = boto3.client("dynamodb", region_name=created.region).create_table(
            TableName=created.physical_table_name,
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        printed = [
            *("-c", f"environment={environment}", "-c", f"index_backend={index_backend}"),
            *(option for key, value in ecr.items() for option in ("-c", f"{key}={value}")),
        ]
        # as scripts/redeploy-context.sh calls it, with the account the AWS CLI names
        assert main([*printed, "--account", "111122223333", "--print", "redeploy_context"]) == 0
    context = overrides(capsys.readouterr().out.strip())
    vector_index = {"create_vector_index", "vector_bucket_name"} if index_backend == "s3vectors" else set()
    assert set(context) == {
        "create_bucket", "bucket_name", "create_table", "table_name", "videos_stream_arn",
        "create_repositories", "clip_repository_name", "search_repository_name", "batch_repository_name",
        "extract_repository_name",
        *vector_index,
    }  # fmt: skip
    app = synthesize(Path(tmp_path), environment=environment, index_backend=index_backend, **ecr, **context)
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
    bucket = created.physical_bucket_name("111122223333")
    assert f"'BUCKET_NAME': '{bucket}'" in service
    assert f"'VIDEOS_TABLE': '{created.physical_table_name}'" in service
    assert f"'BucketName': '{bucket}'" in service  # the rule merged in
    assert f"table/{created.physical_table_name}" in service  # the search role reads that table
    images = str(app.images.to_json())
    for function in created.functions.values():
        assert f"/{function.repository_name}" in images
    # The CDK CLI skips a stack with no resources: the images stack must still deploy its outputs.
    assert app.images.to_json()["Resources"], "make images reads the images stack's outputs"
    assert all(covers(r["Type"]) for r in app.images.to_json()["Resources"].values())  # the bootstrap's
    # the functions keep the names they had
    functions = app.service.find_resources("AWS::Lambda::Function")
    names = {f["Properties"].get("FunctionName") for f in functions.values()}
    assert created.clip.function_name in names


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"environment": "Dev"}, "environment: String should match pattern"),
        ({"environment": "a-b"}, "environment: String should match pattern"),
        ({"environment": "staging", "bucket_name": "b" * 24}, "is longer than 63"),
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


def test_asset_mode_has_no_repositories_to_redeploy_onto():
    """Asset mode never deploys the repositories stack (make deploy's deploy_stacks)."""
    config = load_config(CDK_CONTEXT)
    assert config.deploy_stacks == "ClipFrameSearch"
    assert "repository" not in config.redeploy_context("111122223333")


@pytest.mark.parametrize(
    ("environment", "github_environment"), [("", "production"), ("dev", "dev"), ("prod", "prod")]
)
def test_each_environments_ci_role_trusts_its_own_github_environment(
    environments, environment, github_environment
):
    ci_setup = environments[f"{environment}@ap-southeast-1"].ci_setup
    assert ci_setup is not None
    (role,) = [r for key, r in ci_setup.find_resources("AWS::IAM::Role").items() if "DeployRole" in key]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subject == f"repo:acme/clip-frame-search:environment:{github_environment}:ref:refs/heads/main"


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
