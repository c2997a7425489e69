"""Video in (frame_extraction): the bucket notifies the ingest queue of uploads/, the queue feeds the
extraction function one message at a time, a dead-letter queue catches what keeps failing, and the
page may POST uploads to a created bucket. Off, none of it is deployed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized, synthesize


@pytest.fixture(scope="module")
def no_extraction_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-no-extraction"), frame_extraction=False)  # cdk-nag runs


def resources(app: Synthesized, kind: str) -> dict[str, Any]:
    return dict(app.service.find_resources(kind))


def queue(app: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in resources(app, "AWS::SQS::Queue").items() if k[:-8] == name]
    return found


def test_uploads_are_notified_to_the_ingest_queue(default_app: Synthesized):
    (notifications,) = resources(default_app, "Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    ingest_id, _ = queue(default_app, "IngestQueue")
    assert sorted(c["Events"] for c in configurations) == [["s3:ObjectCreated:*"], ["s3:ObjectRemoved:*"]]
    for configuration in configurations:
        assert configuration["QueueArn"] == {"Fn::GetAtt": [ingest_id, "Arn"]}
        rules = configuration["Filter"]["Key"]["FilterRules"]
        assert rules == [{"Name": "prefix", "Value": "uploads/"}]
    # S3 may send, for this bucket only
    (policy,) = [
        p for p in resources(default_app, "AWS::SQS::QueuePolicy").values() if ingest_id in json.dumps(p)
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (s3_send,) = [s for s in statements if s.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert "aws:SourceArn" in json.dumps(s3_send["Condition"])


def test_the_ingest_queue_feeds_the_extraction_function_with_a_dead_letter_queue(default_app: Synthesized):
    ingest_id, ingest = queue(default_app, "IngestQueue")
    dlq_id, dlq = queue(default_app, "IngestDeadLetterQueue")
    properties = ingest["Properties"]
    assert "FifoQueue" not in properties  # S3 notifies standard queues only
    assert properties["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 3,
    }
    assert properties["VisibilityTimeout"] == 6 * 900  # six times the function's timeout
    assert properties["SqsManagedSseEnabled"] is True
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    (mapping,) = [
        m
        for m in resources(default_app, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"]["Ref"].startswith("ExtractFunction")
    ]
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [ingest_id, "Arn"]}
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_the_page_may_post_uploads_to_a_created_bucket_only(
    default_app: Synthesized, existing_app: Synthesized
):
    (bucket,) = [
        b
        for key, b in resources(default_app, "AWS::S3::Bucket").items()
        if key.startswith("FrameBucket") and "AccessLogs" not in key
    ]
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    (origin,) = rule["AllowedOrigins"]
    assert "WebSiteDistribution" in json.dumps(origin)  # the page's own origin, nothing else
    assert not [
        key
        for key in resources(existing_app, "AWS::S3::Bucket")
        if key.startswith("FrameBucket") and "AccessLogs" not in key
    ]


def test_without_frame_extraction_nothing_of_it_is_deployed(no_extraction_app: Synthesized):
    assert resources(no_extraction_app, "Custom::S3BucketNotifications") == {}
    assert not [k for k in resources(no_extraction_app, "AWS::SQS::Queue") if k.startswith("Ingest")]
    functions = resources(no_extraction_app, "AWS::Lambda::Function").values()
    assert "clip-extract" not in {f["Properties"].get("FunctionName") for f in functions}
    routes = {
        r["Properties"]["RouteKey"] for r in resources(no_extraction_app, "AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {"POST /search", "GET /videos"}
    report = no_extraction_app.nag_report
    assert report["violations"] == []
