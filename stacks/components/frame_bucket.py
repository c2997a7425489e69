"""The bucket holding `frames/` (written upstream) and `embeddings-cache/` (ours), created or existing."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, custom_resources
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from clipsearch.cache.expiry import GUIDE_EXPIRY, CacheExpiry
from clipsearch.layout import CACHE_PREFIX, FRAMES_PREFIX
from stacks.components.nag import acknowledge, acknowledge_wildcard_resource

_HANDLER_DIR = Path(__file__).resolve().parent.parent / "lifecycle_rule_handler"


def _l2_rule(expiry: CacheExpiry) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id=expiry.rule_id,
        prefix=expiry.prefix,
        expiration=Duration.days(expiry.expire_after_days),
        noncurrent_version_expiration=Duration.days(expiry.noncurrent_expire_after_days),
        abort_incomplete_multipart_upload_after=Duration.days(expiry.abort_multipart_after_days),
    )


class FrameBucket(Construct):
    """The video bucket with the cache expiry rule; exposes `bucket` and prefix-scoped grants.

    `create=True` makes a private, encrypted, SSL-only bucket (retained on stack deletion: it holds
    the videos) and, with `access_logs`, its access-log bucket `access_log_bucket_name`. Both bucket
    policies are retained with their buckets (the SSL-only statement; the log bucket's grant to the
    S3 logging service), and the log bucket is named, so after `cdk destroy` a deploy with
    create_bucket=false onto the retained bucket finds both intact, and no cycle leaves an orphan.
    `create=False` imports the bucket by name and merges the rule into its existing
    lifecycle configuration through a custom resource, which removes only that rule on deletion.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        create: bool,
        access_log_bucket_name: str | None = None,
        versioned: bool,
        access_logs: bool,
        log_retention: logs.RetentionDays,
        kms_key_arn: str | None = None,
        expiry: CacheExpiry = GUIDE_EXPIRY,
    ) -> None:
        super().__init__(scope, construct_id)
        self.expiry = expiry
        self.kms_key_arn = kms_key_arn
        if create:
            self.bucket = self._create(
                bucket_name,
                versioned=versioned,
                access_logs=access_logs,
                log_bucket_name=access_log_bucket_name or f"{bucket_name}-access-logs",
            )
        else:
            self.bucket = s3.Bucket.from_bucket_name(self, "Bucket", bucket_name)
            self._merge_lifecycle_rule(log_retention)

    def _create(
        self, bucket_name: str, *, versioned: bool, access_logs: bool, log_bucket_name: str
    ) -> s3.IBucket:
        secure = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": RemovalPolicy.RETAIN,
        }
        log_bucket = None
        if access_logs:
            log_bucket = s3.Bucket(
                self,
                "AccessLogs",
                bucket_name=log_bucket_name,
                **secure,  # type: ignore[arg-type]
            )
            acknowledge(
                log_bucket,
                "AwsSolutions-S1",
                "This is the access-log bucket; logging it into itself would loop.",
            )
        frame_secure = dict(secure)
        if self.kms_key_arn:
            # SSE-KMS with the configured key; S3 Bucket Keys cut the KMS requests per object.
            frame_secure["encryption"] = s3.BucketEncryption.KMS
            frame_secure["encryption_key"] = kms.Key.from_key_arn(self, "Key", self.kms_key_arn)
            frame_secure["bucket_key_enabled"] = True
        bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            versioned=versioned,
            lifecycle_rules=[_l2_rule(self.expiry)],
            server_access_logs_bucket=log_bucket,
            server_access_logs_prefix="frame-bucket/" if log_bucket else None,
            **frame_secure,  # type: ignore[arg-type]
        )
        # Bucket policies are not retained with their bucket by default: keep them too.
        for kept in (bucket, log_bucket):
            if kept is not None and kept.policy is not None:
                kept.policy.apply_removal_policy(RemovalPolicy.RETAIN)
        if not access_logs:
            acknowledge(
                bucket, "AwsSolutions-S1", "Server access logging was turned off in the configuration."
            )
        return bucket

    def _merge_lifecycle_rule(self, log_retention: logs.RetentionDays) -> None:
        role = iam.Role(
            self,
            "LifecycleRuleRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Merges the embeddings-cache expiry rule into an existing bucket",
        )
        handler = lambda_.Function(
            self,
            "LifecycleRuleFunction",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.on_event",
            # The handler's module only: no bytecode, no __init__.py (there for the tests' imports),
            # no dot file ("*" skips them in CDK's glob patterns).
            code=lambda_.Code.from_asset(str(_HANDLER_DIR), exclude=["*", ".*", "!index.py"]),
            role=role,
            timeout=Duration.minutes(2),
            log_group=logs.LogGroup(
                self,
                "LifecycleRuleLogs",
                retention=log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        handler.log_group.grant_write(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                # DeleteBucketLifecycle is authorised by s3:PutLifecycleConfiguration.
                actions=["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
                resources=[self.bucket.bucket_arn],
            )
        )
        # The provider's framework function answers CloudFormation (on success, on an exception and
        # on a timeout of our handler): a lost response can never leave the stack waiting.
        # Its own role instead of CDK's default (AWSLambdaBasicExecutionRole, every log group).
        framework_role = iam.Role(
            self,
            "LifecycleRuleProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the CDK custom resource framework in front of the lifecycle rule function",
        )
        framework_logs = logs.LogGroup(
            self,
            "LifecycleRuleProviderLogs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        framework_logs.grant_write(framework_role)
        provider = custom_resources.Provider(
            self,
            "LifecycleRuleProvider",
            on_event_handler=handler,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
        )
        acknowledge_wildcard_resource(
            framework_role,
            f"{handler.function_arn}:*",
            "CDK's Provider grants invoking the handler's versions too; it invokes only this function.",
        )
        self.lifecycle_rule = CustomResource(
            self,
            "CacheExpiryRule",
            service_token=provider.service_token,
            resource_type="Custom::BucketLifecycleRule",
            properties={
                "BucketName": self.bucket.bucket_name,
                "Rule": json.dumps(self.expiry.as_s3_api_rule(), sort_keys=True),
            },
        )

    def _grant_objects(self, role: iam.IRole, actions: list[str], prefix: str, why: str) -> None:
        objects = self.bucket.arn_for_objects(f"{prefix}*")
        role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[objects]))
        acknowledge_wildcard_resource(role, objects, why)

    def grant_read_frames(self, role: iam.IRole) -> None:
        self._grant_objects(
            role, ["s3:GetObject"], FRAMES_PREFIX,
            "Reads any keyframe: one object per frame under frames/, and nothing else (the guide's policy).",
        )  # fmt: skip

    def grant_read_cache(self, role: iam.IRole) -> None:
        self._grant_objects(
            role, ["s3:GetObject"], CACHE_PREFIX,
            "Reads cached embeddings of any video under embeddings-cache/ only (the guide's policy).",
        )  # fmt: skip

    def grant_write_cache(self, role: iam.IRole) -> None:
        self._grant_objects(
            role, ["s3:PutObject", "s3:PutObjectAcl"], CACHE_PREFIX,
            "Writes embeddings of any video under embeddings-cache/ only (the guide's policy).",
        )  # fmt: skip

    def grant_key(self, role: iam.IRole, *, write: bool) -> None:
        """With an SSE-KMS bucket: decrypt what the role reads, and make data keys if it writes.

        Scoped to the key ARN, no condition; a no-op for SSE-S3.
        """
        if not self.kms_key_arn:
            return
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
        role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[self.kms_key_arn]))

    def grant_read(self, role: iam.IRole, prefix: str, why: str) -> None:
        """`s3:GetObject` on objects under `prefix` only."""
        self._grant_objects(role, ["s3:GetObject"], prefix, why)

    def grant_objects(self, role: iam.IRole, actions: list[str], prefix: str, why: str) -> None:
        """These object actions on objects under `prefix` only (`why`: the cdk-nag reason)."""
        self._grant_objects(role, actions, prefix, why)

    def allow_uploads_from(self, origin: str) -> None:
        """CORS for the page's uploads: a browser at `origin` may POST a presigned form to the bucket
        (a created bucket only: an existing bucket's CORS is its owner's; docs/api/extract.md)."""
        if isinstance(self.bucket, s3.Bucket):
            self.bucket.add_cors_rule(
                allowed_methods=[s3.HttpMethods.POST],
                allowed_origins=[origin],
                allowed_headers=["*"],
                max_age=3600,
            )

    def grant_read_write_delete(self, role: iam.IRole, prefix: str, why: str) -> None:
        """`s3:GetObject`, `s3:PutObject` and `s3:DeleteObject` on objects under `prefix` only."""
        self._grant_objects(role, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], prefix, why)

    def grant_list(self, role: iam.IRole, prefix: str) -> None:
        """`s3:ListBucket`, only for keys under `prefix` (an `s3:prefix` condition): a listing there,
        and a 404 (not a 403) for a missing object there."""
        condition = {"StringLike": {"s3:prefix": f"{prefix}*"}}
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn], conditions=condition
            )
        )
