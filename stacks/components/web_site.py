"""The search page: static files from web/ in a private bucket, served by CloudFront through origin
access control, over HTTPS only, with security headers (a CSP that lets the page talk to the API and
the sign-in domain and show frames from the frame bucket's presigned URLs, and nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as deployment
from constructs import Construct

from deployment.web_policy import HSTS_MAX_AGE_S, PAGE_CONTENT_TYPES, content_security_policy
from stacks.components.nag import acknowledge, acknowledge_wildcard_resource

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
CONFIG_FILE = "config.json"  # written at deploy time, read by web/app.js


class WebSite(Construct):
    """Exposes `bucket`, `distribution` and `url` (https://<distribution domain>/). `publish(config)`
    deploys web/ and config.json (values may be deploy-time tokens)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        connect_sources: list[str],
        image_sources: list[str],
        media_sources: list[str],
        log_retention: logs.RetentionDays,
        assets_qualifier: str,
        account_wide_name: str,
    ) -> None:
        """`account_wide_name` prefixes the names CloudFront keeps per account, not per region (the
        response headers policy, the origin access control): a second region never collides."""
        super().__init__(scope, construct_id)
        self.log_retention = log_retention
        self.assets_qualifier = assets_qualifier  # the bootstrap's (cdk_qualifier): its assets bucket
        self.bucket = s3.Bucket(
            self,
            "Files",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Deleted with the stack: the files go first (the deployment below, retain_on_delete=False).
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Holds only the page's public static files, redeployed from the repository; CloudFront is the "
            "one reader (origin access control).",
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            response_headers_policy_name=f"{account_wide_name}-page-headers",
            comment="The search page: CSP, HSTS, no framing, no sniffing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(
                        connect=connect_sources, images=image_sources, media=media_sources
                    ),
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_MAX_AGE_S),
                    include_subdomains=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=False, override=True),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="CLIP frame search page",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(
                    self.bucket,
                    origin_access_control=cloudfront.S3OriginAccessControl(
                        self, "PageAccess", origin_access_control_name=f"{account_wide_name}-page"
                    ),
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        for finding, reason in (
            ("AwsSolutions-CFR1", "A search page for the people the user pool invites: no country to block."),
            (
                "AwsSolutions-CFR2",
                "Static files only; every API call needs a token and the API stage is throttled. "
                "A web ACL costs more than the page it would guard.",
            ),
            (
                "AwsSolutions-CFR3",
                "Static files only; the API's access logs record every search and who made it.",
            ),
            (
                "AwsSolutions-CFR4",
                "The page is served on its *.cloudfront.net name, whose certificate CloudFront's "
                "TLSv1 policy serves: browsers may still negotiate TLS 1.0 or 1.1. Only a custom "
                "domain with its own ACM certificate could raise the minimum (not deployed here).",
            ),
        ):
            acknowledge(self.distribution, finding, reason)
        self.url = f"https://{self.distribution.distribution_domain_name}/"

    def publish(self, config: dict[str, Any]) -> deployment.BucketDeployment:
        """Deploy web/ and config.json (tokens resolved at deploy time), then invalidate the cache."""
        published = deployment.BucketDeployment(
            self,
            "Publish",
            destination_bucket=self.bucket,
            sources=[
                # The page's own files only: no .DS_Store, swap or backup file is published ("*"
                # skips dot files in CDK's glob patterns, hence ".*").
                deployment.Source.asset(
                    str(WEB_DIR), exclude=["*", ".*", *(f"!*{suffix}" for suffix in PAGE_CONTENT_TYPES)]
                ),
                deployment.Source.json_data(CONFIG_FILE, config),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=256,
            retain_on_delete=False,  # on stack deletion it empties the bucket, which is then deleted
            log_retention=None,
            log_group=logs.LogGroup(
                self, "PublishLogs", retention=self.log_retention, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self._acknowledge_deployment(published)
        return published

    def _acknowledge_deployment(self, published: deployment.BucketDeployment) -> None:
        """CDK's BucketDeployment runs one singleton function (at the stack's root) with its own role,
        whose grants CDK writes (bucket grants with wildcard actions): each finding acknowledged there."""
        role = published.handler_role
        function = role.node.scope
        assert function is not None
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment function: the managed policy for its own logs, not configurable.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "CDK's BucketDeployment function: CDK picks its runtime, pinned with the CDK version.",
        )
        for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's BucketDeployment grants (read the asset, replace the page's files); scoped to "
                "the assets bucket and the page's bucket.",
            )
        stack = Stack.of(self)
        acknowledge_wildcard_resource(
            role,
            f"arn:aws:s3:::cdk-{self.assets_qualifier}-assets-{stack.account}-{stack.region}/*",
            "CDK's BucketDeployment reads the page's asset from the bootstrap's assets bucket.",
        )
        acknowledge_wildcard_resource(
            role,
            f"{self.bucket.bucket_arn}/*",
            "CDK's BucketDeployment replaces every file of the page's own bucket.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK's BucketDeployment invalidates the page's distribution after a deploy; "
            "cloudfront:CreateInvalidation is granted on * by CDK.",
        )
