"""The upstream `videos` table (partition key `video_id`), created or imported."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from clipsearch.catalog.schema import ORIGINAL_KEY_INDEX

READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan")


class VideosTable(Construct):
    """Exposes `table`, `stream_arn` (None: no stream to read) and `key_index` (the index on
    `original_key`, None on an existing table); `create=True` makes it on-demand with
    point-in-time recovery, a stream of new and old images and that index, retained. An existing table's
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
            # The extraction function finds an upload's videos (each version is one) by its key.
            self.table.add_global_secondary_index(
                index_name=ORIGINAL_KEY_INDEX,
                partition_key=dynamodb.Attribute(name="original_key", type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )
            self.key_index: str | None = ORIGINAL_KEY_INDEX
        else:
            self.key_index = None  # an existing table: the extractor Scans for an upload's videos
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

    def grant_rows(self, role: iam.IRole) -> None:
        """The extraction function's rows: read, write and delete items; with the key index, query
        it (else Scan the table for an upload's videos)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.table.table_arn],
            )
        )
        if self.key_index:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:Query"], resources=[f"{self.table.table_arn}/index/{self.key_index}"]
                )
            )
        else:
            self.grant_scan(role)

    def grant_get_item(self, role: iam.IRole) -> None:
        """`dynamodb:GetItem` only (batch reads a video's timing for the index's `time_s`)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[self.table.table_arn])
        )
