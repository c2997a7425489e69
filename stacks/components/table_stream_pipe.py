"""Indexing on change: an EventBridge Pipe from the `videos` table's stream to the work queue.

The filter (clipsearch.work.queue.STREAM_FILTERS) keeps the records that make a video need
embedding (it becomes `processed`, or a processed video changes), so other writes send nothing;
each kept record becomes one work message `{"video_id": ...}` in the video's message group,
deduplicated by the record's eventID: a retry of one record collapses, a new change is never lost.
"""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clipsearch.work.messages import (
    STREAM_DEDUPLICATION_ID_PATH,
    STREAM_FILTERS,
    STREAM_GROUP_ID_PATH,
    STREAM_MESSAGE_TEMPLATE,
)
from stacks.components.nag import acknowledge_wildcard_resource

STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
# One record, one SendMessage: each message's group and deduplication ids are its own record's.
BATCH_SIZE = 1
# A record SQS keeps refusing (after these retries, with backoff) goes to the dead-letter queue, and
# the shard moves on (the default, -1, would hold the shard for the stream's 24 hours).
MAXIMUM_RETRY_ATTEMPTS = 10


class TableStreamPipe(Construct):
    """Exposes `pipe` (CfnPipe) and `role` (the pipe's own)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_arn: str,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "pipes.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Pipe: videos table stream -> work queue",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS), resources=[stream_arn])
        )
        # ListStreams has no resource-level permission: only "*" grants it (as CDK's grantStreamRead does).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"])
        )
        acknowledge_wildcard_resource(
            self.role,
            "*",
            "dynamodb:ListStreams supports no resource ARN; the pipe's other stream actions name its stream.",
        )
        for target in (queue, dead_letter_queue):
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[target.queue_arn])
            )
        self.pipe = pipes.CfnPipe(
            self,
            "Pipe",
            description="videos table stream -> work queue: videos that became processed or changed",
            role_arn=self.role.role_arn,
            source=stream_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="LATEST",
                    batch_size=BATCH_SIZE,
                    maximum_retry_attempts=MAXIMUM_RETRY_ATTEMPTS,
                    # A standard queue, as stream failure destinations take: the stack's failure queue
                    # (alarmed already); the sweep finds the video again anyway.
                    dead_letter_config=pipes.CfnPipe.DeadLetterConfigProperty(
                        arn=dead_letter_queue.queue_arn
                    ),
                ),
                filter_criteria=pipes.CfnPipe.FilterCriteriaProperty(
                    filters=[
                        pipes.CfnPipe.FilterProperty(pattern=json.dumps(pattern))
                        for pattern in STREAM_FILTERS
                    ]
                ),
            ),
            target=queue.queue_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                input_template=STREAM_MESSAGE_TEMPLATE,
                sqs_queue_parameters=pipes.CfnPipe.PipeTargetSqsQueueParametersProperty(
                    message_group_id=STREAM_GROUP_ID_PATH,
                    message_deduplication_id=STREAM_DEDUPLICATION_ID_PATH,
                ),
            ),
        )
        # The role's policy must exist before the pipe starts reading.
        self.pipe.node.add_dependency(self.role)
