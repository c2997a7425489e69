"""The ECR repositories, in their own stack so they exist before any image is pushed to them."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnWaitConditionHandle, Stack
from constructs import Construct

from deployment.derived import FunctionSettings
from stacks.components.image_repositories import ImageRepository


class ImageRepositoriesStack(Stack):
    """Exposes `repositories`: function role name (`clip`, `search`, `batch`) -> ImageRepository."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, FunctionSettings],
        create: bool,
        keep_images: int,
        tag_mutability: str = "IMMUTABLE",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.repositories = {
            role: ImageRepository(
                self,
                f"{role.capitalize()}Repository",
                repository_name=settings.repository_name,
                create=create,
                keep_images=keep_images,
                tag_mutability=tag_mutability,
            )
            for role, settings in functions.items()
        }
        if not create:
            # Retained repositories leave no resource here, and the CDK CLI skips a stack with none,
            # so its outputs (which make images reads) would never exist: a no-op resource keeps it.
            CfnWaitConditionHandle(self, "OutputsHolder")
        for role, repository in self.repositories.items():
            CfnOutput(
                self,
                f"{role.capitalize()}RepositoryUri",
                value=repository.repository.repository_uri,
                description=f"Push the {role} image here (make images)",
            )
