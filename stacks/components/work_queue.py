"""The work queue in front of the batch function (clipsearch/work/queue.py is its runtime side).

One SQS FIFO queue every producer sends to: the table stream's pipe, the scheduled sweep, search's
refill, batch's own chunks of long videos, a person's backfill. Message group = video (or chunk),
explicit deduplication ids from the producers, so content-based deduplication is off.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.nag import acknowledge

# AWS recommends a visibility timeout of six times the function's timeout for an SQS event source
# (room for the mapping's own retries when the function is throttled); SQS allows up to 12 hours.
VISIBILITY_TIMEOUT_FACTOR = 6
# Each message is a whole video or a chunk sized to fill one invocation: one message per invocation.
BATCH_SIZE = 1
# SQS's default: a backlog waits this long. The dead-letter queue keeps messages longer (SQS's
# maximum), as a moved message keeps its original enqueue time.
WORK_RETENTION = Duration.days(4)
DEAD_LETTER_RETENTION = Duration.days(14)


def visibility_timeout_s(function_timeout_s: int) -> int:
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout_s


class WorkQueue(Construct):
    """Exposes `queue` (FIFO) and `dead_letter_queue` (FIFO, after `max_receives` receives)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, function_timeout_s: int, max_receives: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the work queue (redrive after max receives).",
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=True,
            content_based_deduplication=False,  # producers send MessageDeduplicationId
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s(function_timeout_s)),
            retention_period=WORK_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receives
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def feed(self, function: lambda_.IFunction, *, max_concurrency: int) -> None:
        """An event source mapping from the queue to `function` (CDK grants its role consuming)."""
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )

    def grant_send(self, role: iam.IRole) -> None:
        """`sqs:SendMessage` (SendMessageBatch too) on the work queue only."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
