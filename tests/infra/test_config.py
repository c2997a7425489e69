"""The configuration model: cdk.json values validate, bad values fail naming the key."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest

from clipsearch.batch.service import FRAME_CACHES
from deployment.config import AppConfig, ConfigError
from deployment.context import load_config
from tests.docs.pages import CONFIGURATION
from tests.infra.conftest import CDK_CONTEXT


def config_with(**overrides: Any):
    return load_config({**CDK_CONTEXT, **overrides})


def test_cdk_json_holds_the_guides_names():
    config = load_config(CDK_CONTEXT)
    # no bucket is chosen: synth and the local system stand in the guide's, a deploy refuses it
    assert (config.local_bucket_name, config.table_name, config.region) == (
        "totgo1",
        "videos",
        "ap-southeast-1",
    )
    assert config.clip.function_name == "clip-inference"
    assert config.clip.repository_name == "lambda-clip-inference"
    assert config.image_source == "asset"
    assert config.image_tag is None
    assert config.index_backend == "memory"


def test_command_line_strings_are_coerced():
    # GIVEN values as `cdk deploy -c key=value` passes them: strings
    config = config_with(clip_memory_mb="4096", create_bucket="false", image_source="ecr", image_tag="abc")
    # THEN they arrive typed
    assert config.clip.memory_mb == 4096
    assert config.create_bucket is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clip_memory_mb": 99999}, "clip_memory_mb: Input should be less than or equal to 10240"),
        ({"search_memory_mb": 64}, "search_memory_mb: Input should be greater than or equal to 128"),
        ({"batch_timeout_s": 901}, "batch_timeout_s: Input should be less than or equal to 900"),
        ({"clip_timeout_s": "soon"}, "clip_timeout_s: Input should be a valid integer"),
        ({"create_bucket": "maybe"}, "create_bucket: Input should be a valid boolean"),
        ({"tracing": "sometimes"}, "tracing: Input should be a valid boolean"),
        ({"alarm_email": "ops at example"}, "alarm_email: String should match pattern"),
        ({"bucket_kms_key_arn": "alias/aws/s3"}, "bucket_kms_key_arn: Value error, not a KMS key ARN"),
        (
            {"bucket_kms_key_arn": "arn:aws:kms:ap-southeast-1:111122223333:alias/videos"},
            "bucket_kms_key_arn: Value error, not a KMS key ARN",
        ),
        (
            {"bucket_kms_key_arn": "arn:aws:kms:us-east-1:111122223333:key/mrk-" + "0" * 32},
            "bucket_kms_key_arn: the key is in us-east-1, the stacks in ap-southeast-1",
        ),
        ({"bucket_name": "Totgo_1"}, "bucket_name: String should match pattern"),
        ({"bucket_name": "a..b"}, "bucket_name: Value error, not a valid S3 bucket name"),
        ({"bucket_name": "192.168.1.1"}, "bucket_name: Value error, not a valid S3 bucket name"),
        ({"table_name": "v"}, "table_name: String should match pattern"),
        ({"clip_function_name": "clip inference"}, "clip_function_name: String should match pattern"),
        ({"region": "mars-1"}, "region: String should match pattern"),
        ({"image_source": "s3"}, "image_source: Input should be 'asset' or 'ecr'"),
        ({"image_source": "ecr"}, "image_tag: required when image_source is 'ecr'"),
        ({"image_tag": "bad tag!"}, "image_tag: String should match pattern"),
        ({"log_retention_days": 31}, "log_retention_days: 31 is not a CloudWatch Logs retention"),
        ({"clip_repository_name": "Lambda-Clip"}, "clip_repository_name: String should match pattern"),
        ({"repository_keep_images": 0}, "repository_keep_images: Input should be greater than or equal to 1"),
        ({"batch_function_name": "clip-inference"}, "must differ"),
        ({"bucket_nmae": "x"}, "bucket_nmae: unknown configuration key"),
        ({"index_backend": "faiss"}, "index_backend: Input should be 'memory' or 's3vectors'"),
        ({"frame_cache": "npy"}, "frame_cache: Input should be 'per-frame' or 'packed'"),
        ({"vector_bucket_name": "Clip_Vectors"}, "vector_bucket_name: String should match pattern"),
        ({"vector_bucket_name": "clip.vectors"}, "vector_bucket_name: String should match pattern"),
        ({"vector_index_name": "-frames"}, "vector_index_name: String should match pattern"),
        ({"vector_index_name": "fr"}, "vector_index_name: String should match pattern"),
        ({"create_vector_index": "maybe"}, "create_vector_index: Input should be a valid boolean"),
        ({"ci_setup": True}, "github_repository: required when ci_setup is true"),
        ({"github_repository": "not a repo"}, "github_repository: String should match pattern"),
        ({"create_github_oidc_provider": "yes please"}, "create_github_oidc_provider: Input should be"),
        ({"stack_name": "Frames"}, "stack_name: not a configuration key: the stacks are ClipFrameSearch"),
        ({"api_auth": "none"}, "api_auth: Input should be 'cognito', 'jwt' or 'iam'"),
        ({"api_auth": "jwt"}, "api_jwt_issuer: required when api_auth is 'jwt'"),
        (
            {"api_auth": "jwt", "api_jwt_issuer": "https://id.example.com"},
            "api_jwt_audience: required when api_auth is 'jwt'",
        ),
        (
            {"api_auth": "jwt", "api_jwt_issuer": "http://id.example.com", "api_jwt_audience": "a"},
            "api_jwt_issuer: must be an https:// URL",
        ),
        (
            {"api_auth": "jwt", "api_jwt_issuer": "https://id.example.com", "api_jwt_audience": "a,,b"},
            "api_jwt_audience: comma-separated values, none of them empty",
        ),
        ({"api_jwt_issuer": "https://id.example.com"}, "api_jwt_issuer: only with api_auth=jwt"),
        ({"api_auth": "iam", "cognito_domain_prefix": "frames"}, "cognito_domain_prefix: only with"),
        ({"cognito_domain_prefix": "my-aws-frames"}, "must not contain aws, amazon or cognito"),
        ({"cognito_domain_prefix": "Frames"}, "cognito_domain_prefix: String should match pattern"),
        ({"environment": "aws1"}, "must not contain aws, amazon or cognito"),
        ({"api_throttle_rate": 0}, "api_throttle_rate: Input should be greater than or equal to 1"),
        ({"api_throttle_burst": 0}, "api_throttle_burst: Input should be greater than or equal to 1"),
        ({"frame_url_seconds": 30}, "frame_url_seconds: Input should be greater than or equal to 60"),
        ({"frame_url_seconds": 7200}, "frame_url_seconds: Input should be less than or equal to 3600"),
    ],
)
def test_invalid_values_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        config_with(**overrides)
    assert message in str(error.value)


def test_the_frame_caches_configurable_are_those_the_batch_function_takes():
    assert get_args(AppConfig.model_fields["frame_cache"].annotation) == FRAME_CACHES


def test_a_kms_key_arn_is_accepted_and_empty_means_sse_s3():
    arn = "arn:aws:kms:ap-southeast-1:111122223333:key/mrk-" + "a" * 32
    assert config_with(bucket_kms_key_arn=arn).bucket_kms_key_arn == arn
    assert config_with(bucket_kms_key_arn="").bucket_kms_key_arn is None


def test_an_all_digit_bucket_name_is_valid():
    assert config_with(bucket_name="123456").bucket_name == "123456"


def test_a_missing_key_is_named():
    context = dict(CDK_CONTEXT)
    del context["table_name"]
    with pytest.raises(ConfigError, match="table_name: missing"):
        load_config(context)


def test_cdk_feature_flags_and_cli_keys_are_not_configuration():
    config = config_with(**{"@aws-cdk/core:newStyleStackSynthesis": True, "aws:cdk:version-reporting": False})
    assert config.service_stack_name == "ClipFrameSearch"


def test_every_error_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        config_with(clip_memory_mb=1, search_timeout_s=0)
    assert "clip_memory_mb" in str(error.value)
    assert "search_timeout_s" in str(error.value)


def test_every_configuration_key_is_documented_on_the_configuration_page():
    table_cells = set(re.findall(r"^\| `(\w+)`(?: / `(\w+)`)?", CONFIGURATION.read_text(), re.M))
    documented = {key for pair in table_cells for key in pair if key}
    assert set(AppConfig.model_fields) <= documented, set(AppConfig.model_fields) - documented


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({}, ["bucket_name", "alarm_email"]),
        ({"bucket_name": "acme-frames"}, ["alarm_email"]),
        ({"alarm_email": "ops@example.com", "create_bucket": False, "bucket_name": "pipeline"}, []),
    ],
)
def test_a_deploy_needs_a_chosen_bucket_and_alarm_address_synth_and_local_runs_do_not(overrides, missing):
    problems = config_with(**overrides).deploy_problems()
    assert [problem.split(":")[0] for problem in problems] == missing
