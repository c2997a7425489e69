"""Bucket, cache expiry rule, table and repositories, in both bucket/table modes."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import CREATED_BUCKET, Synthesized, without_page
from tests.infra.iam_policy import BUCKET_KMS_KEY_ARN

CACHE_RULE_L1 = {
    "Id": "embeddings-cache-7d",
    "Prefix": "embeddings-cache/",
    "Status": "Enabled",
    "ExpirationInDays": 7,
    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}
CACHE_RULE_API = {
    "ID": "embeddings-cache-7d",
    "Status": "Enabled",
    "Filter": {"Prefix": "embeddings-cache/"},
    "Expiration": {"Days": 7},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}


def frame_bucket(app: Synthesized) -> Any:
    buckets = app.service.find_resources("AWS::S3::Bucket", {"Properties": {"BucketName": CREATED_BUCKET}})
    assert len(buckets) == 1
    return next(iter(list(buckets.values())))


def test_created_bucket_carries_the_cache_rule(default_app):
    rules = frame_bucket(default_app)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules == [CACHE_RULE_L1]


def test_created_bucket_is_private_encrypted_versioned_and_retained(default_app):
    bucket = frame_bucket(default_app)
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "frame-bucket/"
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_with_a_kms_key_the_created_bucket_uses_sse_kms_with_a_bucket_key(options_app):
    encryption = frame_bucket(options_app)["Properties"]["BucketEncryption"]
    assert encryption["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": BUCKET_KMS_KEY_ARN,
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]


def test_created_bucket_refuses_plain_http(default_app):
    default_app.service.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": Match.string_like_regexp("FrameBucket")},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_existing_bucket_is_not_created_but_gets_the_rule_merged(existing_app):
    assert without_page(existing_app.service.find_resources("AWS::S3::Bucket")) == {}
    rules = existing_app.service.find_resources("Custom::BucketLifecycleRule")
    assert len(rules) == 1
    properties = next(iter(rules.values()))["Properties"]
    assert properties["BucketName"] == "totgo1"
    assert json.loads(properties["Rule"]) == CACHE_RULE_API


def test_lifecycle_merge_function_may_only_touch_that_buckets_lifecycle(existing_app):
    existing_app.service.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
                            "Resource": "arn:aws:s3:::totgo1",
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("LifecycleRuleRole")}],
        },
    )
    existing_app.service.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "index.on_event", "Runtime": "python3.14"}
    )


def test_the_rule_goes_through_cdks_provider_framework(existing_app):
    """CloudFormation talks to the framework function, which always answers (success, error, timeout)."""
    resources = existing_app.service.to_json()["Resources"]
    (rule,) = existing_app.service.find_resources("Custom::BucketLifecycleRule").values()
    framework_id = rule["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    framework = resources[framework_id]["Properties"]
    assert framework["Handler"] == "framework.onEvent"
    handler_id = framework["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]["Fn::GetAtt"][0]
    assert resources[handler_id]["Properties"]["Handler"] == "index.on_event"
    # Its own role: no managed policy, logs to its own group, invokes only our handler.
    role_id = framework["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    log_group = framework["LoggingConfig"]["LogGroup"]["Ref"]
    handler_arn = {"Fn::GetAtt": [handler_id, "Arn"]}
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        },
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [handler_arn, {"Fn::Join": ["", [handler_arn, ":*"]]}],
        },
        {"Action": "lambda:GetFunction", "Effect": "Allow", "Resource": handler_arn},
    ]


def test_the_rule_is_the_same_in_both_modes():
    """The L2 rule and the custom resource's rule come from one definition."""
    from clipsearch.cache.expiry import CacheExpiry

    expiry = CacheExpiry()
    rule = expiry.as_s3_api_rule()
    assert rule["Expiration"] == {"Days": expiry.expire_after_days}
    assert rule == CACHE_RULE_API


def test_created_table(default_app):
    tables = default_app.service.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 1
    table = next(iter(tables.values()))
    assert table["DeletionPolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["TableName"] == "videos"
    assert properties["KeySchema"] == [{"AttributeName": "video_id", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "video_id", "AttributeType": "S"},
        {"AttributeName": "original_key", "AttributeType": "S"},
    ]
    # the extraction function finds an upload's videos by their original_key (keys only)
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by-original-key",
            "KeySchema": [{"AttributeName": "original_key", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_existing_table_is_imported(existing_app):
    assert existing_app.service.find_resources("AWS::DynamoDB::Table") == {}


def test_repositories_scan_on_push_keep_n_images_and_are_retained(default_app):
    repositories = default_app.images.find_resources("AWS::ECR::Repository")
    names = {r["Properties"]["RepositoryName"] for r in repositories.values()}
    assert names == {
        "lambda-clip-inference",
        "lambda-clip-search",
        "lambda-clip-batch",
        "lambda-clip-extract",
    }
    for repository in repositories.values():
        assert repository["DeletionPolicy"] == "Retain"
        properties = repository["Properties"]
        assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
        policy = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])
        (rule,) = policy["rules"]
        assert rule["selection"]["countType"] == "imageCountMoreThan"
        assert rule["selection"]["countNumber"] == 10
        assert rule["action"] == {"type": "expire"}
        pull = properties["RepositoryPolicyText"]["Statement"]
        assert pull[0]["Principal"] == {"Service": "lambda.amazonaws.com"}
