"""The batch function's asynchronous invoke configuration and its on-failure queue."""

from __future__ import annotations

from typing import Any

import pytest

from deployment.config import ConfigError
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_config import config_with


def only(app: Synthesized, kind: str) -> tuple[str, Any]:
    (found,) = app.service.find_resources(kind).items()
    return found


def failure_queue(app: Synthesized) -> tuple[str, Any]:
    """The batch failure queue (the work queue and its dead-letter queue are the others)."""
    (found,) = [
        item
        for item in app.service.find_resources("AWS::SQS::Queue").items()
        if item[0].startswith("BatchFailures")
    ]
    return found


def test_batch_retries_twice_for_six_hours_then_sends_to_the_failure_queue(any_app):
    queue_id, _ = failure_queue(any_app)
    _, config = only(any_app, "AWS::Lambda::EventInvokeConfig")
    properties = config["Properties"]
    assert properties["MaximumRetryAttempts"] == 2
    assert properties["MaximumEventAgeInSeconds"] == 21600
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    assert properties["FunctionName"]["Ref"].startswith("BatchFunction")


def test_failure_queue_is_encrypted_ssl_only_and_keeps_messages_14_days(default_app):
    queue_id, queue = failure_queue(default_app)
    assert queue["Properties"] == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    (policy,) = [
        policy
        for policy in default_app.service.find_resources("AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_the_batch_role_may_only_send_to_the_queue(default_app):
    queue_id, _ = failure_queue(default_app)
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    statements = [
        statement
        for key, resource in default_app.service.find_resources("AWS::IAM::Policy").items()
        if key.startswith("BatchFunctionRole")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == queue_arn
    ]
    assert statements == [
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]}}
    ]


def test_async_settings_come_from_context(tmp_path):
    app = synthesize(tmp_path, batch_async_retries=0, batch_async_max_event_age_s=60)
    _, config = only(app, "AWS::Lambda::EventInvokeConfig")
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 60


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_async_retries": 3}, "batch_async_retries: Input should be less than or equal to 2"),
        ({"batch_async_retries": -1}, "batch_async_retries: Input should be greater than or equal to 0"),
        ({"batch_async_max_event_age_s": 59}, "batch_async_max_event_age_s: Input should be greater"),
        ({"batch_async_max_event_age_s": 21601}, "batch_async_max_event_age_s: Input should be less"),
    ],
)
def test_async_settings_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config_with(**overrides)
