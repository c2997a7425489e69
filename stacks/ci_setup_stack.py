"""One-time CI setup (optional, `ci_setup`): GitHub's OIDC provider and a deploy role that only
this repository's production environment on its main branch can assume, and that may do nothing
but assume the CDK bootstrap roles (which `cdk deploy` uses for everything else)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.nag import acknowledge, acknowledge_wildcard_resource

GITHUB_OIDC = "token.actions.githubusercontent.com"
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
# The longest session the workflow may ask for (role-duration-seconds): at least the deploy job's
# timeout, so its credentials never expire in the middle of a deploy (IAM's default is 1 hour).
MAX_SESSION_HOURS = 2


def github_subject(*, repository: str, environment: str, branch: str) -> str:
    """The `sub` claim with the repository's OIDC subject template set to repo, context, ref."""
    return f"repo:{repository}:environment:{environment}:ref:refs/heads/{branch}"


class CiSetupStack(Stack):
    """Exposes `deploy_role`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        branch: str,
        environment: str,
        create_oidc_provider: bool,
        cdk_qualifier: str,
        image_push: tuple[str, list[str]] | None,
        **kwargs: Any,
    ) -> None:
        """`image_push`: (images stack name, repository names) to let the role push images itself
        (the `ecr` image source in CI); None keeps it to the bootstrap roles only."""
        super().__init__(scope, construct_id, **kwargs)
        # One provider per account (IAM is global): the CI set-up that creates it keeps it when deleted,
        # as the other environments' and regions' roles trust it; the others name its fixed ARN.
        oidc_provider_arn = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:oidc-provider/{GITHUB_OIDC}"
        if create_oidc_provider:
            provider = iam.CfnOIDCProvider(
                self, "GitHubOidcProvider", url=f"https://{GITHUB_OIDC}", client_id_list=["sts.amazonaws.com"]
            )
            provider.apply_removal_policy(RemovalPolicy.RETAIN)
            oidc_provider_arn = provider.attr_arn
        self.deploy_role = iam.Role(
            self,
            "GitHubDeployRole",
            max_session_duration=Duration.hours(MAX_SESSION_HOURS),
            description=f"GitHub Actions deploys of {repository} ({environment}, {branch} only)",
            assumed_by=iam.FederatedPrincipal(
                oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC}:sub": github_subject(
                            repository=repository, environment=environment, branch=branch
                        ),
                    }
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            ),
        )
        bootstrap_roles = [
            f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/cdk-{cdk_qualifier}-{kind}-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"
            for kind in BOOTSTRAP_ROLES
        ]
        self.deploy_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=bootstrap_roles)
        )
        if image_push:
            self._allow_image_push(*image_push)
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.deploy_role.role_arn,
            description="GitHub variable AWS_DEPLOY_ROLE_ARN",
        )

    def _allow_image_push(self, images_stack: str, repositories: list[str]) -> None:
        arn = f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository"
        self.deploy_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:BatchGetImage",
                    # the digest of a pushed tag: skip an immutable tag already pushed; deploy the digest
                    "ecr:DescribeImages",
                ],
                resources=[f"{arn}/{name}" for name in repositories],
            )
        )
        # GetAuthorizationToken has no resource-level permissions: "*" is the only form AWS accepts.
        self.deploy_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        acknowledge(
            self.deploy_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken supports no resource scoping; pushes are limited to our repositories.",
        )
        images_stack_arn = (
            f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/{images_stack}/*"
        )
        self.deploy_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[images_stack_arn])
        )
        acknowledge_wildcard_resource(
            self.deploy_role,
            images_stack_arn,
            "A stack ARN ends in a generated id: this is exactly the images stack (its repository URIs).",
        )
