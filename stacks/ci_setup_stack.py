"""One-time CI setup (optional, `ci_setup`): GitHub's OIDC provider (the account's first set-up
only) and two roles, each assumable only from this repository's main branch in one GitHub
environment:

- the deploy role (`<environment>`, required reviewers): assumes the CDK bootstrap roles (which
  `cdk deploy` uses for everything else, under the bootstrap's scoped execution policy) and reads
  what `make deploy` checks first: the images' digests and the account's Lambda concurrency;
- the image role (`<environment>-images`, no reviewers): pushes the images to the repositories
  and reads their digests and tag mutability. It can deploy nothing.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.nag import acknowledge

GITHUB_OIDC = "token.actions.githubusercontent.com"
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
# The longest session the workflow may ask for (role-duration-seconds): at least the deploy job's
# timeout, so its credentials never expire in the middle of a deploy (IAM's default is 1 hour).
MAX_SESSION_HOURS = 2
# The GitHub environment the image role trusts: the deploy environment's twin without reviewers.
IMAGES_ENVIRONMENT_SUFFIX = "-images"


def github_subject(*, repository: str, environment: str, branch: str) -> str:
    """The `sub` claim with the repository's OIDC subject template set to repo, context, ref."""
    return f"repo:{repository}:environment:{environment}:ref:refs/heads/{branch}"


class CiSetupStack(Stack):
    """Exposes `deploy_role` and `image_role`."""

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
        repositories: list[str],
        reserved_functions: list[str],
        **kwargs: Any,
    ) -> None:
        """`repositories`: the image repositories' names; `reserved_functions`: the functions whose
        reserved concurrency `make deploy` checks first (scripts/check-concurrency.sh)."""
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

        def github_role(construct_id: str, github_environment: str, what: str) -> iam.Role:
            return iam.Role(
                self,
                construct_id,
                max_session_duration=Duration.hours(MAX_SESSION_HOURS),
                description=f"GitHub Actions {what} of {repository} ({github_environment}, {branch} only)",
                assumed_by=iam.FederatedPrincipal(
                    oidc_provider_arn,
                    conditions={
                        "StringEquals": {
                            f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                            f"{GITHUB_OIDC}:sub": github_subject(
                                repository=repository, environment=github_environment, branch=branch
                            ),
                        }
                    },
                    assume_role_action="sts:AssumeRoleWithWebIdentity",
                ),
            )

        arn = f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository"
        repository_arns = [f"{arn}/{name}" for name in repositories]

        self.deploy_role = github_role("GitHubDeployRole", environment, "deploys")
        bootstrap_roles = [
            f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/cdk-{cdk_qualifier}-{kind}-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"
            for kind in BOOTSTRAP_ROLES
        ]
        for actions, resources in (
            (["sts:AssumeRole"], bootstrap_roles),
            # make deploy resolves the pushed tags to digests (scripts/image-digests.sh)
            (["ecr:DescribeImages"], repository_arns),
            # ... and checks the reserved concurrency fits (scripts/check-concurrency.sh)
            (
                ["lambda:GetFunctionConcurrency"],
                [
                    f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:{name}"
                    for name in reserved_functions
                ],
            ),
            (["lambda:GetAccountSettings"], ["*"]),
        ):
            self.deploy_role.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=resources)
            )

        self.image_role = github_role(
            "GitHubImageRole", f"{environment}{IMAGES_ENVIRONMENT_SUFFIX}", "image pushes"
        )
        self.image_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:BatchGetImage",
                    # whether a tag is pushed already, and whether the repository's tags are immutable
                    "ecr:DescribeImages",
                    "ecr:DescribeRepositories",
                ],
                resources=repository_arns,
            )
        )
        # GetAuthorizationToken has no resource-level permissions: "*" is the only form AWS accepts.
        self.image_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        acknowledge(
            self.image_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken supports no resource scoping; pushes are limited to our repositories.",
        )
        acknowledge(
            self.deploy_role,
            "AwsSolutions-IAM5[Resource::*]",
            "lambda:GetAccountSettings supports no resource scoping; it reads the concurrency quota only.",
        )
        CfnOutput(self, "DeployRoleArn", value=self.deploy_role.role_arn, description="AWS_DEPLOY_ROLE_ARN")
        CfnOutput(self, "ImageRoleArn", value=self.image_role.role_arn, description="AWS_IMAGE_ROLE_ARN")
