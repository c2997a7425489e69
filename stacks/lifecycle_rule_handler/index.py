"""Custom resource: keep one lifecycle rule in a bucket that this stack does not own.

S3 stores a bucket's lifecycle rules as one document, and CloudFormation can only replace that
document on buckets it created. For an existing bucket (the video pipeline's) we read the document,
put our rule in (replacing a rule with the same ID in place), leave every other rule untouched, and
on stack deletion take only our rule out again.

Properties (all strings, CloudFormation stringifies scalars): BucketName, Rule (the S3 API rule as
JSON; its ID names it). Runs on the Lambda Python runtime behind a CDK `custom_resources.Provider`
(`on_event`); needs only boto3.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

_NO_CONFIGURATION = "NoSuchLifecycleConfiguration"
_NO_BUCKET = "NoSuchBucket"


def read_rules(s3: Any, bucket: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The bucket's rules and the document's other settings to carry over on write."""
    try:
        response = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] == _NO_CONFIGURATION:
            return [], {}
        raise
    extra = {}
    if "TransitionDefaultMinimumObjectSize" in response:
        extra["TransitionDefaultMinimumObjectSize"] = response["TransitionDefaultMinimumObjectSize"]
    return list(response.get("Rules", [])), extra


def write_rules(s3: Any, bucket: str, rules: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    if rules:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules}, **extra)
    else:  # S3 refuses an empty rule list; no rules means no configuration.
        s3.delete_bucket_lifecycle(Bucket=bucket)


def with_rule(rules: list[dict[str, Any]], rule: dict[str, Any]) -> list[dict[str, Any]]:
    """`rules` with `rule` in place of the one sharing its ID, or appended."""
    replaced = [rule if existing.get("ID") == rule["ID"] else existing for existing in rules]
    return replaced if rule in replaced else [*rules, rule]


def without_rule(rules: list[dict[str, Any]], rule_id: str) -> list[dict[str, Any]]:
    return [existing for existing in rules if existing.get("ID") != rule_id]


def put_rule(s3: Any, bucket: str, rule: dict[str, Any]) -> None:
    rules, extra = read_rules(s3, bucket)
    write_rules(s3, bucket, with_rule(rules, rule), extra)


def delete_rule(s3: Any, bucket: str, rule_id: str) -> None:
    try:
        rules, extra = read_rules(s3, bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] == _NO_BUCKET:
            return  # the bucket is gone, and our rule with it
        raise
    remaining = without_rule(rules, rule_id)
    if remaining != rules:
        write_rules(s3, bucket, remaining, extra)


def physical_id(properties: dict[str, Any]) -> str:
    return f"{properties['BucketName']}/{json.loads(properties['Rule'])['ID']}"


def apply_event(s3: Any, event: dict[str, Any]) -> str:
    """Carry out one CloudFormation request; return the physical resource ID."""
    request = event["RequestType"]
    properties = event["ResourceProperties"]
    if request == "Delete":
        old = event["PhysicalResourceId"]
        bucket, _, rule_id = old.partition("/")
        if rule_id:  # a Create that failed before naming the resource has nothing to undo
            delete_rule(s3, bucket, rule_id)
        return str(old)
    rule = json.loads(properties["Rule"])
    put_rule(s3, properties["BucketName"], rule)
    new = physical_id(properties)
    if request == "Update":
        previous = event["OldResourceProperties"]
        if previous["BucketName"] == properties["BucketName"] and physical_id(previous) != new:
            # Same bucket, renamed rule: CloudFormation's follow-up Delete names the old ID,
            # but remove it now so the bucket never holds both.
            delete_rule(s3, previous["BucketName"], json.loads(previous["Rule"])["ID"])
    return new


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The onEvent handler of a CDK `custom_resources.Provider`.

    The provider's framework function answers CloudFormation: our return value is the SUCCESS
    response, an exception the FAILED one (with its message), and a timeout fails too. So a missed
    response can never leave a stack waiting for an hour.
    """
    logger.info("%s %s", event.get("RequestType"), json.dumps(event.get("ResourceProperties")))
    resource_id = apply_event(boto3.client("s3"), event)
    return {"PhysicalResourceId": resource_id, "Data": {"RuleId": resource_id.partition("/")[2]}}
