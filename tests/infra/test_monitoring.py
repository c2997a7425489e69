"""Dashboard, alarms and the alarm topic (stacks/components/monitoring.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import CDK_CONTEXT, Synthesized

FUNCTIONS = {
    "Clip": "clip-inference",
    "Search": "clip-search",
    "Batch": "clip-batch-embed",
    "Extract": "clip-extract",
}


def resources(app: Synthesized, kind: str) -> dict[str, Any]:
    return dict(app.service.find_resources(kind))


def the_topic(app: Synthesized) -> str:
    (topic_id,) = resources(app, "AWS::SNS::Topic")
    return topic_id


def alarms(app: Synthesized) -> dict[str, Any]:
    """Alarm construct name (e.g. SearchErrorRate) -> properties."""
    found = {}
    for logical_id, alarm in resources(app, "AWS::CloudWatch::Alarm").items():
        name = logical_id.removeprefix("Monitoring")[:-8]  # CDK appends an 8-character hash
        found[name] = alarm["Properties"]
    return found


def test_one_alarm_per_concern_all_notifying_the_one_topic(any_app):
    topic = {"Ref": the_topic(any_app)}
    found = alarms(any_app)
    assert set(found) == {
        *(f"{role}ErrorRate" for role in FUNCTIONS),
        *(f"{role}Throttles" for role in FUNCTIONS),
        "SearchP99Duration",
        "BatchFailureQueueNotEmpty",
        "WorkDeadLetterQueueNotEmpty",
        "WorkQueueOldestMessageAge",
        "IngestDeadLetterQueueNotEmpty",
        "IngestQueueOldestMessageAge",
    }
    for properties in found.values():
        assert properties["AlarmActions"] == [topic]
        assert properties["OKActions"] == [topic]
        assert properties["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("role", FUNCTIONS)
def test_error_rate_alarm_is_errors_over_invocations(default_app, role):
    properties = alarms(default_app)[f"{role}ErrorRate"]
    expression, errors, invocations = properties["Metrics"]
    assert expression["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert errors["MetricStat"]["Metric"]["MetricName"] == "Errors"
    assert invocations["MetricStat"]["Metric"]["MetricName"] == "Invocations"
    (dimension,) = errors["MetricStat"]["Metric"]["Dimensions"]
    assert dimension["Value"]["Ref"].startswith(f"{role}Function")
    assert (properties["Threshold"], properties["EvaluationPeriods"], properties["DatapointsToAlarm"]) == (
        5,
        3,
        2,
    )


@pytest.mark.parametrize("role", FUNCTIONS)
def test_any_throttle_alarms(default_app, role):
    properties = alarms(default_app)[f"{role}Throttles"]
    assert properties["MetricName"] == "Throttles"
    assert properties["Statistic"] == "Sum"
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["Threshold"] == 1


def test_search_p99_alarm_at_80_percent_of_its_timeout(default_app):
    properties = alarms(default_app)["SearchP99Duration"]
    assert properties["MetricName"] == "Duration"
    assert properties["ExtendedStatistic"] == "p99"
    assert properties["Threshold"] == CDK_CONTEXT["search_timeout_s"] * 1000 * 0.8
    assert properties["Dimensions"][0]["Value"]["Ref"].startswith("SearchFunction")


def queue_id(app: Synthesized, construct: str) -> str:
    """The queue whose construct path is `construct` (its logical id less CDK's 8-character hash)."""
    (found,) = [key for key in resources(app, "AWS::SQS::Queue") if key[:-8] == construct]
    return found


def test_failure_queue_alarm_fires_on_one_message(default_app):
    queue_id_ = queue_id(default_app, "BatchFailuresQueue")
    properties = alarms(default_app)["BatchFailureQueueNotEmpty"]
    (metric,) = properties["Metrics"]
    assert metric["MetricStat"]["Stat"] == "Maximum"
    assert metric["MetricStat"]["Metric"] == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id_, "QueueName"]}}],
    }
    assert properties["Threshold"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_a_dead_lettered_work_message_alarms(default_app):
    properties = alarms(default_app)["WorkDeadLetterQueueNotEmpty"]
    (metric,) = properties["Metrics"]
    assert metric["MetricStat"]["Stat"] == "Maximum"
    assert metric["MetricStat"]["Metric"] == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [
            {
                "Name": "QueueName",
                "Value": {"Fn::GetAtt": [queue_id(default_app, "WorkDeadLetterQueue"), "QueueName"]},
            }
        ],
    }
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_work_waiting_longer_than_work_max_age_s_alarms(default_app):
    properties = alarms(default_app)["WorkQueueOldestMessageAge"]
    (metric,) = properties["Metrics"]
    assert metric["MetricStat"]["Stat"] == "Maximum"
    assert metric["MetricStat"]["Metric"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [queue_id(default_app, "WorkQueue"), "QueueName"]
    }
    assert properties["Threshold"] == CDK_CONTEXT["work_max_age_s"] == 3600
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"


def test_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(default_app):
    (topic,) = resources(default_app, "AWS::SNS::Topic").values()
    (key_id, key), *_ = resources(default_app, "AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    grants = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"].get("Service")]
    assert grants == [
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Resource": "*",
        }
    ]


def test_topic_refuses_plain_http_and_lets_only_this_accounts_alarms_publish(default_app):
    (policy,) = resources(default_app, "AWS::SNS::TopicPolicy").values()
    deny, allow = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert ":alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])


def test_email_subscription_only_when_configured(default_app, options_app):
    assert resources(default_app, "AWS::SNS::Subscription") == {}
    (subscription,) = resources(options_app, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    assert subscription["Properties"]["TopicArn"] == {"Ref": the_topic(options_app)}


def dashboard_body(app: Synthesized) -> str:
    (dashboard,) = resources(app, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "ClipFrameSearch-ap-southeast-1"  # one per account
    return json.dumps(dashboard["Properties"]["DashboardBody"])


def test_dashboard_shows_each_functions_traffic_and_duration(default_app):
    body = dashboard_body(default_app)
    for name in FUNCTIONS.values():
        assert f"{name}: invocations, errors, throttles" in body
        assert f"{name}: duration p50 / p99 (ms)" in body
    for metric in ("Invocations", "Errors", "Throttles", "Duration"):
        assert f'\\"AWS/Lambda\\",\\"{metric}\\"' in body
    assert '\\"stat\\":\\"p50\\"' in body
    assert '\\"stat\\":\\"p99\\"' in body


def test_dashboard_shows_the_search_handlers_emf_metrics_and_the_queue(default_app):
    body = dashboard_body(default_app)
    for metric in ("ClipLatency", "CacheHits", "CacheMisses"):
        assert f'[\\"ClipFrameSearch\\",\\"{metric}\\",\\"service\\",\\"clip-search\\"' in body
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert f'\\"AWS/SQS\\",\\"{metric}\\"' in body


def test_dashboard_shows_the_work_queue_and_its_dead_letter_queue(default_app):
    body = dashboard_body(default_app)
    for title in (
        "Work queue: messages waiting and in flight",
        "Work queue: oldest message age (s)",
        "Work dead-letter queue",
    ):
        assert title in body
    assert '\\"AWS/SQS\\",\\"ApproximateNumberOfMessagesNotVisible\\"' in body
