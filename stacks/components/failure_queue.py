"""Where Lambda puts asynchronous invocations it gave up on (an on-failure destination)."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.nag import acknowledge


class FailureQueue(Construct):
    """An SQS queue (SQS-managed SSE, SSL only, 14 days) receiving a function's failed async events.

    Exposes `queue`. `attach` sets the function's asynchronous invoke configuration with this queue
    as its on-failure destination; CDK grants the function's role sending to it.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # the SQS maximum: time to look and replay
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the batch function's failed events.",
        )

    def attach(self, function: lambda_.IFunction, *, retry_attempts: int, max_event_age_s: int) -> None:
        function.configure_async_invoke(
            retry_attempts=retry_attempts,
            max_event_age=Duration.seconds(max_event_age_s),
            on_failure=_SendOnlyQueueDestination(self.queue),
        )


@jsii.implements(lambda_.IDestination)
class _SendOnlyQueueDestination:
    """CDK's SqsDestination, granting only `sqs:SendMessage`: all Lambda needs to deliver a record.

    (SqsDestination's grant_send_messages adds sqs:GetQueueAttributes and sqs:GetQueueUrl too.)
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        _scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)
