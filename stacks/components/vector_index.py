"""The Amazon S3 Vectors index the search queries with `index_backend=s3vectors`: a vector bucket
holding one index, created (retained) or existing; and the grants on exactly that index."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct

from clipsearch.index.limits import DATA_TYPE, DISTANCE_METRIC
from clipsearch.layout import INDEX_NON_FILTERABLE_KEYS


class VectorIndex(Construct):
    """Exposes `index_arn`. `create=True` makes the vector bucket (SSE-S3, or SSE-KMS with
    `kms_key_arn`) and its index, both retained: the ledgers in the frame bucket (retained too) say what
    the index holds, so the two must outlive the stack together. `create=False` uses the existing
    bucket and index of these names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vector_bucket_name: str,
        index_name: str,
        dimension: int,
        create: bool,
        kms_key_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not create:
            self.index_arn = Stack.of(self).format_arn(
                service="s3vectors",
                resource="bucket",
                resource_name=f"{vector_bucket_name}/index/{index_name}",
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            return
        encryption = s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(
            sse_type="aws:kms" if kms_key_arn else "AES256", kms_key_arn=kms_key_arn
        )
        bucket = s3vectors.CfnVectorBucket(
            self, "Bucket", vector_bucket_name=vector_bucket_name, encryption_configuration=encryption
        )
        index = s3vectors.CfnIndex(
            self,
            "Index",
            vector_bucket_arn=bucket.attr_vector_bucket_arn,
            index_name=index_name,
            dimension=dimension,
            data_type=DATA_TYPE,
            distance_metric=DISTANCE_METRIC,
            metadata_configuration=s3vectors.CfnIndex.MetadataConfigurationProperty(
                non_filterable_metadata_keys=list(INDEX_NON_FILTERABLE_KEYS)
            ),
        )
        for resource in (bucket, index):
            resource.apply_removal_policy(RemovalPolicy.RETAIN)
        self.index_arn = index.attr_index_arn

    def grant_write(self, role: iam.IRole) -> None:
        """Put and delete vectors of this index (the batch function)."""
        self._grant(role, ["s3vectors:PutVectors", "s3vectors:DeleteVectors"])

    def grant_query(self, role: iam.IRole) -> None:
        """Query this index; GetVectors too, which QueryVectors needs with a metadata filter or
        returnMetadata (the search function)."""
        self._grant(role, ["s3vectors:QueryVectors", "s3vectors:GetVectors"])

    def _grant(self, role: iam.IRole, actions: list[str]) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[self.index_arn]))
