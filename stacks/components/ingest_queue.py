"""Video in: the bucket's notification of `uploads/` to the ingest queue, and the queue's mapping to
the extraction function (clipsearch/extract/ is its runtime side).

A standard queue: S3 notifies no FIFO queue. Order does not matter to the extractor (it acts on
what S3 holds when it runs), and at-least-once delivery is what its conditional writes expect. The
extractor's own ranges of long videos go through the same queue, so one dead-letter queue and one
set of alarms cover everything that comes in.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clipsearch.layout import UPLOADS_PREFIX
from stacks.components.nag import acknowledge
from stacks.components.work_queue import DEAD_LETTER_RETENTION, WORK_RETENTION, visibility_timeout_s

# One message is one upload or one range sized to fill an invocation.
BATCH_SIZE = 1
NOTIFIED = (s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED)  # UPLOAD_EVENTS, as CDK names them


class IngestQueue(Construct):
    """Exposes `queue` and `dead_letter_queue` (after `max_receives` receives)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, function_timeout_s: int, max_receives: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the ingest queue (redrive after max receives).",
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # SQS-managed keys: S3 can send to such a queue (not to one with the AWS managed KMS key).
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s(function_timeout_s)),
            retention_period=WORK_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receives
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def notify_from(self, bucket: s3.IBucket) -> None:
        """Objects created or removed under uploads/ are sent to the queue (CDK adds the queue policy
        that lets S3 send, for this bucket and account only)."""
        destination = s3_notifications.SqsDestination(self.queue)
        for event in NOTIFIED:
            bucket.add_event_notification(event, destination, s3.NotificationKeyFilter(prefix=UPLOADS_PREFIX))
        # CDK writes the bucket's notification configuration with a singleton function of its own.
        stack = Stack.of(self)
        handler = next(
            child for child in stack.node.children if child.node.id.startswith("BucketNotificationsHandler")
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's bucket-notifications handler (a custom resource that runs at deploy time only) writes "
            "its logs with the basic execution policy; its own statement is s3:PutBucketNotification on "
            "this bucket.",
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
        """`sqs:SendMessage` (SendMessageBatch too) on the ingest queue only: the ranges."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
