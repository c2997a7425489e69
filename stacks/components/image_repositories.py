"""ECR repositories for the three function images (the `ecr` image source and CI push here)."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

_ACCOUNT_FUNCTIONS = f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"


class ImageRepository(Construct):
    """One repository, scanned on push, keeping the newest `keep_images`; retained on deletion."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository_name: str,
        create: bool,
        keep_images: int,
        tag_mutability: str = "IMMUTABLE",
    ) -> None:
        super().__init__(scope, construct_id)
        if create:
            self.repository: ecr.IRepository = ecr.Repository(
                self,
                "Repository",
                repository_name=repository_name,
                image_scan_on_push=True,
                # IMMUTABLE (default): a pushed tag (CI's commit SHA) always names the same image;
                # MUTABLE for the guide's `latest` flow.
                image_tag_mutability=getattr(ecr.TagMutability, tag_mutability),
                removal_policy=RemovalPolicy.RETAIN,  # images outlive a stack rebuild
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        description=f"Keep the newest {keep_images} images",
                        max_image_count=keep_images,
                    )
                ],
            )
            # Lambda pulls the image as its service principal; only functions of this account may.
            self.repository.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="LambdaPull",
                    principals=[iam.ServicePrincipal("lambda.amazonaws.com")],
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    conditions={"StringLike": {"aws:sourceArn": _ACCOUNT_FUNCTIONS}},
                )
            )
        else:
            self.repository = ecr.Repository.from_repository_name(self, "Repository", repository_name)
