"""The upstream `videos` table (partition key `video_id`), created or imported."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan")


class VideosTable(Construct):
    """Exposes `table` and `stream_arn` (None: no stream to read); `create=True` makes it on-demand
    with point-in-time recovery and a stream of new and old images, retained. An existing table's
    stream is `existing_stream_arn`, if it has one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        create: bool,
        existing_stream_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream_arn: str | None = existing_stream_arn
        if create:
            self.table: dynamodb.ITable = dynamodb.Table(
                self,
                "Table",
                table_name=table_name,
                partition_key=dynamodb.Attribute(name="video_id", type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                removal_policy=RemovalPolicy.RETAIN,  # the upstream pipeline's records live here
                # Indexing on change: the pipe reads this (the filter needs both images).
                stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            )
            self.stream_arn = self.table.table_stream_arn
        else:
            self.table = dynamodb.Table.from_table_name(self, "Table", table_name)

    def grant_read(self, role: iam.IRole) -> None:
        """Exactly the guide's read actions (CDK's grant_read_data adds DescribeTable and more)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(READ_ACTIONS), resources=[self.table.table_arn])
        )

    def grant_scan(self, role: iam.IRole) -> None:
        """`dynamodb:Scan` only (the sweep lists the processed videos)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:Scan"], resources=[self.table.table_arn])
        )

    def grant_get_item(self, role: iam.IRole) -> None:
        """`dynamodb:GetItem` only (batch reads a video's timing for the index's `time_s`)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[self.table.table_arn])
        )
