"""The scheduled sweep: an EventBridge Scheduler schedule invoking the batch function with
`{"sweep": true}` (clipsearch.work.messages.SWEEP_EVENT), which queues every processed video whose
cache is missing, incomplete or stale.

Scheduler rather than an EventBridge rule: it is AWS's service for scheduled invocations, with its
own role (IAM on our side, statement by statement in docs/operators/iam.md, no Lambda resource policy to
keep), cron time zones, and a retry policy and dead-letter queue for invocations it cannot make.
"""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clipsearch.work.messages import SWEEP_EVENT

# An invocation Scheduler cannot make (throttled, the function missing) is retried this often within
# this age, then sent to the dead-letter queue; a sweep is worth running late, never twice a day.
RETRY_ATTEMPTS = 3
MAXIMUM_EVENT_AGE_S = 3600


class SweepSchedule(Construct):
    """Exposes `schedule` (CfnSchedule) and `role`. Scheduler invokes asynchronously: a failing
    sweep is retried by Lambda and lands in the function's on-failure queue like any async event."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        expression: str,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: the daily sweep invokes the batch function",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn])
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description="The sweep: queue every processed video whose cache is missing or stale",
            schedule_expression=expression,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(SWEEP_EVENT),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=MAXIMUM_EVENT_AGE_S
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=dead_letter_queue.queue_arn
                ),
            ),
        )
        self.schedule.node.add_dependency(self.role)
