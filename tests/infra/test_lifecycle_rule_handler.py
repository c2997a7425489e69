"""The custom resource that merges the cache expiry rule into an existing bucket (moto S3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from clipsearch.cache.expiry import CacheExpiry
from stacks.lifecycle_rule_handler import index

BUCKET = "totgo1"
OURS = CacheExpiry().as_s3_api_rule()
UPLOADS_RULE = {
    "ID": "uploads-to-glacier",
    "Status": "Enabled",
    "Filter": {"Prefix": "uploads/"},
    "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def rules(s3: Any) -> list[dict[str, Any]]:
    found, _ = index.read_rules(s3, BUCKET)
    return found


def ids(s3: Any) -> list[str]:
    return [rule["ID"] for rule in rules(s3)]


def event(request: str, rule: dict[str, Any] = OURS, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResourceProperties": {"BucketName": BUCKET, "Rule": json.dumps(rule)},
        **extra,
    }


def test_create_on_a_bucket_without_configuration(s3):
    resource_id = index.apply_event(s3, event("Create"))
    assert resource_id == "totgo1/embeddings-cache-7d"
    (rule,) = rules(s3)
    assert rule["ID"] == "embeddings-cache-7d"
    assert rule["Expiration"] == {"Days": 7}
    assert rule["Filter"] == {"Prefix": "embeddings-cache/"}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1


def test_create_keeps_the_pipelines_rules(s3):
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE]})
    index.apply_event(s3, event("Create"))
    assert ids(s3) == ["uploads-to-glacier", "embeddings-cache-7d"]
    assert rules(s3)[0]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]


def test_a_hand_made_rule_of_the_same_id_is_updated_in_place(s3):
    # GIVEN the guide's console rule, made by hand, between two other rules
    hand_made = {**OURS, "Expiration": {"Days": 30}}
    other = {**UPLOADS_RULE, "ID": "z-other"}
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE, hand_made, other]}
    )
    # WHEN the stack is created THEN ours replaces it where it stood
    index.apply_event(s3, event("Create"))
    assert ids(s3) == ["uploads-to-glacier", "embeddings-cache-7d", "z-other"]
    assert rules(s3)[1]["Expiration"] == {"Days": 7}


def test_update_changes_our_rule_only(s3):
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE]})
    index.apply_event(s3, event("Create"))
    longer = {**OURS, "Expiration": {"Days": 14}}
    resource_id = index.apply_event(
        s3,
        event(
            "Update",
            longer,
            PhysicalResourceId="totgo1/embeddings-cache-7d",
            OldResourceProperties=event("Create")["ResourceProperties"],
        ),
    )
    assert resource_id == "totgo1/embeddings-cache-7d"
    assert ids(s3) == ["uploads-to-glacier", "embeddings-cache-7d"]
    assert rules(s3)[1]["Expiration"] == {"Days": 14}


def test_update_renaming_the_rule_leaves_no_orphan(s3):
    index.apply_event(s3, event("Create"))
    renamed = {**OURS, "ID": "embeddings-cache-14d"}
    resource_id = index.apply_event(
        s3,
        event(
            "Update",
            renamed,
            PhysicalResourceId="totgo1/embeddings-cache-7d",
            OldResourceProperties=event("Create")["ResourceProperties"],
        ),
    )
    assert resource_id == "totgo1/embeddings-cache-14d"
    assert ids(s3) == ["embeddings-cache-14d"]
    # CloudFormation's follow-up Delete of the old physical ID is then a no-op
    index.apply_event(s3, event("Delete", PhysicalResourceId="totgo1/embeddings-cache-7d"))
    assert ids(s3) == ["embeddings-cache-14d"]


def test_delete_removes_only_our_rule(s3):
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE]})
    index.apply_event(s3, event("Create"))
    index.apply_event(s3, event("Delete", PhysicalResourceId="totgo1/embeddings-cache-7d"))
    assert ids(s3) == ["uploads-to-glacier"]


def test_delete_of_the_last_rule_removes_the_configuration(s3):
    index.apply_event(s3, event("Create"))
    index.apply_event(s3, event("Delete", PhysicalResourceId="totgo1/embeddings-cache-7d"))
    assert rules(s3) == []


def test_delete_after_a_failed_create_touches_nothing(s3):
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE]})
    index.apply_event(s3, event("Delete", PhysicalResourceId="failed-1234"))
    assert ids(s3) == ["uploads-to-glacier"]


def test_delete_when_the_bucket_is_gone_succeeds(s3):
    s3.delete_bucket(Bucket=BUCKET)
    index.apply_event(s3, event("Delete", PhysicalResourceId="totgo1/embeddings-cache-7d"))


# The physical ID CDK's provider framework gives a Create that failed; it never forwards the
# rollback Delete of such a resource to our handler, and that Delete would touch nothing anyway.
FRAMEWORK_FAILED_CREATE_ID = "AWSCDK::CustomResourceProviderFramework::MISSING_PHYSICAL_ID"


def test_on_event_returns_the_resource_and_raises_on_failure(s3, monkeypatch):
    # The provider framework turns the return value into SUCCESS and an exception into FAILED.
    monkeypatch.setattr("stacks.lifecycle_rule_handler.index.boto3.client", lambda service: s3)

    created = index.on_event(event("Create"), None)
    missing_bucket = {
        **event("Create"),
        "ResourceProperties": {"BucketName": "nope", "Rule": json.dumps(OURS)},
    }
    with pytest.raises(ClientError, match="NoSuchBucket"):
        index.on_event(missing_bucket, None)

    assert created == {
        "PhysicalResourceId": "totgo1/embeddings-cache-7d",
        "Data": {"RuleId": "embeddings-cache-7d"},
    }
    assert ids(s3) == ["embeddings-cache-7d"]


def test_delete_of_a_create_the_framework_saw_fail_touches_nothing(s3, monkeypatch):
    monkeypatch.setattr("stacks.lifecycle_rule_handler.index.boto3.client", lambda service: s3)
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [UPLOADS_RULE]})
    deleted = index.on_event(event("Delete", PhysicalResourceId=FRAMEWORK_FAILED_CREATE_ID), None)
    assert deleted["PhysicalResourceId"] == FRAMEWORK_FAILED_CREATE_ID
    assert ids(s3) == ["uploads-to-glacier"]


def test_the_handler_never_answers_cloudformation_itself():
    """Responses are the provider framework's job: no response URL, no HTTP client here."""
    source = Path(index.__file__).read_text()
    assert "ResponseURL" not in source
    assert "urllib" not in source
    assert not hasattr(index, "handler")
