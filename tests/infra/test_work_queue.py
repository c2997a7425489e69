"""The work queue and what feeds it: the FIFO queue and its dead-letter queue, the event source
mapping to the batch function, the table stream's pipe, the sweep schedule, CHUNK_FRAMES."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from clipsearch.work.messages import (
    STREAM_DEDUPLICATION_ID_PATH,
    STREAM_FILTERS,
    STREAM_GROUP_ID_PATH,
    STREAM_MESSAGE_TEMPLATE,
    WorkItem,
)
from deployment.config import ConfigError
from deployment.runtime_env import chunk_frames, vcpus
from local.event_sources import pipe_message
from tests.docs.pages import CONFIGURATION
from tests.infra.conftest import CDK_CONTEXT, ROOT, Synthesized, synthesize
from tests.infra.iam_policy import VIDEOS_STREAM_ARN
from tests.infra.test_compliance import BIN
from tests.infra.test_config import config_with

HOURS_12 = 12 * 3600


def resources(app: Synthesized, kind: str) -> dict[str, Any]:
    return dict(app.service.find_resources(kind))


def by_construct(app: Synthesized, kind: str, construct: str) -> tuple[str, Any]:
    """The resource whose logical id is `construct` plus CDK's 8-character hash."""
    (found,) = [(key, value) for key, value in resources(app, kind).items() if key[:-8] == construct]
    return found


def arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# Each setting from context, in one synthesis (the defaults are the session's variants).
CUSTOM = {
    "work_max_receives": 5,
    "batch_timeout_s": 600,
    "batch_memory_mb": 3538,  # 2 vCPUs
    "batch_max_concurrency": 50,
    "work_max_age_s": 7200,
    "sweep_schedule": "cron(0 3 * * ? *)",
}


@pytest.fixture(scope="module")
def custom_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-work-custom"), **CUSTOM)


@pytest.fixture(scope="module")
def unfed_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """An existing table without a stream ARN, and the sweep off: neither pipe nor schedule."""
    return synthesize(tmp_path_factory.mktemp("cdk-work-unfed"), create_table=False, sweep_schedule="")


def test_work_queue_is_fifo_with_explicit_dedup_encrypted_and_redrives_to_a_fifo_dlq(default_app):
    dlq_id, dlq = by_construct(default_app, "AWS::SQS::Queue", "WorkDeadLetterQueue")
    _, queue = by_construct(default_app, "AWS::SQS::Queue", "WorkQueue")
    assert queue["Properties"] == {
        "FifoQueue": True,
        "ContentBasedDeduplication": False,  # producers send MessageDeduplicationId
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": 6 * 900,  # AWS's 6x the function timeout
        "MessageRetentionPeriod": 4 * 24 * 3600,
        "RedrivePolicy": {"deadLetterTargetArn": arn(dlq_id), "maxReceiveCount": 3},
    }
    assert "QueueName" not in queue["Properties"]  # CloudFormation names it (.fifo) per stack
    assert dlq["Properties"] == {
        "FifoQueue": True,
        "SqsManagedSseEnabled": True,
        "MessageRetentionPeriod": 14 * 24 * 3600,  # longer than the work queue's: moves keep their age
    }


@pytest.mark.parametrize("construct", ["WorkQueue", "WorkDeadLetterQueue"])
def test_work_queues_refuse_plain_http(default_app, construct):
    queue_id, _ = by_construct(default_app, "AWS::SQS::Queue", construct)
    (policy,) = [
        p
        for p in resources(default_app, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_settings_come_from_context(custom_app):
    dlq_id, _ = by_construct(custom_app, "AWS::SQS::Queue", "WorkDeadLetterQueue")
    _, queue = by_construct(custom_app, "AWS::SQS::Queue", "WorkQueue")
    assert queue["Properties"]["VisibilityTimeout"] == 6 * 600
    assert queue["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": arn(dlq_id), "maxReceiveCount": 5}


def test_visibility_timeout_covers_the_longest_batch_run_within_sqs_limit():
    from stacks.components.work_queue import visibility_timeout_s

    assert 900 <= visibility_timeout_s(900) == 5400 <= HOURS_12


def mapping(app: Synthesized, function: str = "BatchFunction") -> dict[str, Any]:
    """The event source mapping of `function` (the work queue's of the batch function by default)."""
    (found,) = [
        resource
        for resource in resources(app, "AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["FunctionName"]["Ref"].startswith(function)
    ]
    properties: dict[str, Any] = found["Properties"]
    return properties


def test_the_batch_function_consumes_the_work_queue_one_message_at_a_time(any_app):
    queue_id, _ = by_construct(any_app, "AWS::SQS::Queue", "WorkQueue")
    properties = mapping(any_app)
    assert properties["EventSourceArn"] == arn(queue_id)
    assert properties["FunctionName"]["Ref"].startswith("BatchFunction")
    assert properties["BatchSize"] == 1
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_mapping_concurrency_comes_from_context(custom_app):
    assert mapping(custom_app)["ScalingConfig"] == {"MaximumConcurrency": 50}


def test_a_created_table_streams_new_and_old_images(default_app):
    (table,) = resources(default_app, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def pipe(app: Synthesized) -> dict[str, Any]:
    (found,) = resources(app, "AWS::Pipes::Pipe").values()
    properties: dict[str, Any] = found["Properties"]
    return properties


def test_the_pipe_sends_kept_stream_records_to_the_work_queue_as_whole_video_messages(any_app):
    queue_id, _ = by_construct(any_app, "AWS::SQS::Queue", "WorkQueue")
    failures_id, failures = by_construct(any_app, "AWS::SQS::Queue", "BatchFailuresQueue")
    properties = pipe(any_app)
    stream = properties["SourceParameters"]["DynamoDBStreamParameters"]
    assert stream["StartingPosition"] == "LATEST"
    assert stream["BatchSize"] == 1
    assert stream["MaximumRetryAttempts"] == 10
    # Pipes' dead-letter queue for a stream source is a standard queue
    assert stream["DeadLetterConfig"] == {"Arn": arn(failures_id)}
    assert "FifoQueue" not in failures["Properties"]
    filters = properties["SourceParameters"]["FilterCriteria"]["Filters"]
    assert [json.loads(f["Pattern"]) for f in filters] == STREAM_FILTERS
    assert properties["Target"] == arn(queue_id)
    assert properties["TargetParameters"] == {
        "InputTemplate": STREAM_MESSAGE_TEMPLATE,
        "SqsQueueParameters": {
            "MessageGroupId": STREAM_GROUP_ID_PATH,
            "MessageDeduplicationId": STREAM_DEDUPLICATION_ID_PATH,
        },
    }
    assert properties["RoleArn"]["Fn::GetAtt"][0].startswith("StreamPipeRole")


def test_the_pipes_message_is_a_whole_video_in_its_group_deduplicated_by_the_record():
    record = {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "dynamodb": {"Keys": {"video_id": {"S": "4f2a"}}},
    }
    body, group, dedup = pipe_message(record)  # what the local system's Pipe makes of the constants
    assert json.loads(body) == json.loads(WorkItem("4f2a").body())
    assert group == WorkItem("4f2a").group_id() == "4f2a"
    assert dedup == record["eventID"]  # the change, not the video (issue #22.3)


def test_the_pipe_reads_the_created_tables_stream(default_app):
    (table_id,) = resources(default_app, "AWS::DynamoDB::Table")
    assert pipe(default_app)["Source"] == {"Fn::GetAtt": [table_id, "StreamArn"]}


def test_an_existing_tables_pipe_reads_the_configured_stream(existing_app):
    assert pipe(existing_app)["Source"] == VIDEOS_STREAM_ARN


@pytest.mark.parametrize(
    ("construct", "service"), [("StreamPipeRole", "pipes"), ("SweepScheduleRole", "scheduler")]
)
def test_service_roles_trust_their_service_for_this_account_only(default_app, construct, service):
    _, role = by_construct(default_app, "AWS::IAM::Role", construct)
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def schedule(app: Synthesized) -> dict[str, Any]:
    (found,) = resources(app, "AWS::Scheduler::Schedule").values()
    properties: dict[str, Any] = found["Properties"]
    return properties


def test_the_sweep_schedule_invokes_batch_daily_with_the_sweep_event(any_app):
    failures_id, _ = by_construct(any_app, "AWS::SQS::Queue", "BatchFailuresQueue")
    properties = schedule(any_app)
    assert properties["ScheduleExpression"] == "rate(1 day)"
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = properties["Target"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("BatchFunction")
    assert json.loads(target["Input"]) == {"sweep": True}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": arn(failures_id)}
    assert target["RoleArn"]["Fn::GetAtt"][0].startswith("SweepScheduleRole")


def test_the_cdk_app_imports_without_the_aws_sdk_or_numpy():
    """`make install-deploy` installs requirements.txt only: the app (and what it takes from
    clipsearch, such as the stream filter and the sweep event) must not need boto3 or numpy."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('boto3', 'botocore', 'numpy', 'PIL', 'torch'):\n"
        "            raise ImportError(name + ' is not in the deploy venv')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import app, stacks.search_stack\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)


def test_the_schedule_and_alarm_threshold_come_from_context(custom_app):
    assert schedule(custom_app)["ScheduleExpression"] == "cron(0 3 * * ? *)"
    (alarm,) = [
        a["Properties"]
        for key, a in resources(custom_app, "AWS::CloudWatch::Alarm").items()
        if key.startswith("MonitoringWorkQueueOldestMessageAge")
    ]
    assert alarm["Threshold"] == 7200


def test_without_a_stream_or_a_schedule_there_is_neither_pipe_nor_schedule(unfed_app):
    assert resources(unfed_app, "AWS::Pipes::Pipe") == {}
    assert resources(unfed_app, "AWS::Scheduler::Schedule") == {}
    assert not [
        key for key in resources(unfed_app, "AWS::IAM::Role") if key.startswith(("StreamPipe", "Sweep"))
    ]
    # the work queue and its mapping stay: refill, chunks and backfill still use them
    assert mapping(unfed_app)["BatchSize"] == 1
    report = unfed_app.nag_report
    assert report["violations"] == []


def test_work_queue_outputs(any_app):
    queue_id, _ = by_construct(any_app, "AWS::SQS::Queue", "WorkQueue")
    dlq_id, _ = by_construct(any_app, "AWS::SQS::Queue", "WorkDeadLetterQueue")
    outputs = any_app.service.to_json()["Outputs"]
    assert outputs["WorkQueueUrl"]["Value"] == {"Ref": queue_id}
    assert outputs["WorkDeadLetterQueueUrl"]["Value"] == {"Ref": dlq_id}


def batch_environment(app: Synthesized) -> dict[str, Any]:
    (function,) = [
        f["Properties"]
        for f in resources(app, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == "clip-batch-embed"
    ]
    variables: dict[str, Any] = function["Environment"]["Variables"]
    return variables


def test_chunk_frames_fill_one_invocation_at_half_the_measured_speed():
    # floor(timeout x 8.5 frames/s/vCPU x memory/1769 vCPUs x 0.5)
    assert chunk_frames(900, 10240) == int(900 * 8.5 * 10240 / 1769 * 0.5) == 22_141
    assert chunk_frames(900, 1769) == int(900 * 8.5 * 1 * 0.5) == 3_825
    assert vcpus(10240) == 10240 / 1769 < 6
    assert vcpus(20000) == 6  # Lambda's maximum
    assert chunk_frames(1, 128) == 1  # never 0


def test_chunk_frames_come_from_the_batch_timeout_and_memory(custom_app):
    assert batch_environment(custom_app)["CHUNK_FRAMES"] == str(int(600 * 8.5 * 2 * 0.5)) == "5100"


def test_the_frame_rate_is_a_named_constant_defined_once():
    hits = [
        path
        for folder in ("stacks", "deployment", "local")
        for path in (ROOT / folder).rglob("*.py")
        if "FRAMES_PER_SECOND_PER_VCPU = " in path.read_text()
    ]
    assert hits == [ROOT / "deployment" / "runtime_env.py"]


def test_the_configuration_page_states_the_default_chunk_size():
    default = chunk_frames(CDK_CONTEXT["batch_timeout_s"], CDK_CONTEXT["batch_memory_mb"])
    assert f"{default:,}" in CONFIGURATION.read_text()


STREAM_OF_OTHER_TABLE = (
    "arn:aws:dynamodb:ap-southeast-1:111122223333:table/frames/stream/2026-01-15T08:30:00.000"
)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"work_max_receives": 0}, "work_max_receives: Input should be greater than or equal to 1"),
        ({"work_max_receives": 11}, "work_max_receives: Input should be less than or equal to 10"),
        ({"batch_max_concurrency": 1}, "batch_max_concurrency: Input should be greater than or equal to 2"),
        (
            {"batch_max_concurrency": 1001},
            "batch_max_concurrency: Input should be less than or equal to 1000",
        ),
        ({"work_max_age_s": 59}, "work_max_age_s: Input should be greater than or equal to 60"),
        ({"sweep_schedule": "daily"}, "sweep_schedule: String should match pattern"),
        ({"sweep_schedule": "rate(1 days)"}, "sweep_schedule: String should match pattern"),
        ({"sweep_schedule": "rate(2 day)"}, "sweep_schedule: String should match pattern"),
        ({"sweep_schedule": "cron(0 3 * * ?)"}, "sweep_schedule: String should match pattern"),
        ({"sweep_schedule": "at(2026-01-01T00:00:00)"}, "sweep_schedule: String should match pattern"),
        (
            {"create_table": False, "videos_stream_arn": "arn:aws:dynamodb:ap-southeast-1:1:table/videos"},
            "videos_stream_arn: Value error, not a DynamoDB stream ARN",
        ),
        (
            {"create_table": False, "videos_stream_arn": STREAM_OF_OTHER_TABLE},
            "videos_stream_arn: the stream of table frames in ap-southeast-1, not of videos in",
        ),
        (
            {
                "create_table": False,
                "videos_stream_arn": VIDEOS_STREAM_ARN.replace("ap-southeast-1", "us-east-1"),
            },
            "videos_stream_arn: the stream of table videos in us-east-1",
        ),
        ({"videos_stream_arn": VIDEOS_STREAM_ARN}, "videos_stream_arn: only with create_table=false"),
    ],
)
def test_invalid_work_settings_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        config_with(**overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "expression",
    ["", "rate(1 day)", "rate(6 hours)", "rate(1 minute)", "rate(15 minutes)", "cron(0 3 * * ? *)"],
)
def test_valid_sweep_schedules(expression):
    assert config_with(sweep_schedule=expression).sweep_schedule == expression


def test_an_existing_tables_stream_arn_is_accepted_and_empty_means_none():
    config = config_with(create_table=False, videos_stream_arn=VIDEOS_STREAM_ARN)
    assert config.videos_stream_arn == VIDEOS_STREAM_ARN
    assert config_with(videos_stream_arn="").videos_stream_arn is None


@pytest.mark.parametrize("variant", ["custom_app", "unfed_app"])
def test_cfn_lint_passes_the_work_queue_variants(request, variant):
    """The session's variants are linted in test_compliance; these two only here."""
    app: Synthesized = request.getfixturevalue(variant)
    result = subprocess.run(
        [BIN / "cfn-lint", "--ignore-checks", "W3005", "--", *map(str, app.template_files())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
