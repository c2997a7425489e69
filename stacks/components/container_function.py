"""A container-image Lambda with its own role and log group; the stack adds grants to `role`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from deployment.derived import FunctionSettings
from stacks.components.nag import acknowledge_wildcard_resource


def dockerignore_patterns(path: Path) -> list[str]:
    """The patterns of a .dockerignore file (comments and blank lines dropped)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True, kw_only=True)
class AssetImage:
    """Build the image from a Dockerfile at deploy time (`cdk deploy` builds and pushes it).

    The asset holds exactly what `<dockerfile>.dockerignore` lets in (the files the image copies,
    the same list `docker build` uses) plus the Dockerfile and that ignore file: bytecode, editor
    and Finder files never reach the asset hash, so they never trigger a rebuild.
    """

    context_dir: Path
    dockerfile: str  # relative to context_dir
    build_args: dict[str, str] | None = None  # the Dockerfile's ARGs (the model images' PRECISION)

    def code(self) -> lambda_.DockerImageCode:
        ignore_file = f"{self.dockerfile}.dockerignore"
        patterns = dockerignore_patterns(self.context_dir / ignore_file)
        assert patterns[0] == "*", f"{ignore_file} must start by excluding everything"
        return lambda_.DockerImageCode.from_image_asset(
            str(self.context_dir),
            file=self.dockerfile,
            platform=Platform.LINUX_AMD64,
            build_args=self.build_args,
            # Docker's own pattern semantics, after the root .dockerignore CDK reads first ("*" resets it).
            ignore_mode=IgnoreMode.DOCKER,
            exclude=[*patterns, f"!{self.dockerfile}", f"!{ignore_file}"],
        )


@dataclass(frozen=True, kw_only=True)
class RegistryImage:
    """Use an image already pushed to ECR (the CI / `make images` flow): `tag` is a tag or, to pin
    the exact image, a digest (`sha256:...`, deployed as `<repository>@sha256:...`)."""

    repository: ecr.IRepository
    tag: str

    def code(self) -> lambda_.DockerImageCode:
        return lambda_.DockerImageCode.from_ecr(self.repository, tag_or_digest=self.tag)


class ContainerFunction(Construct):
    """Exposes `function`, `role` and `log_group`.

    The role starts with only what writing its own log group needs (the guide's three logs actions,
    scoped to that log group instead of the whole account); everything else is granted by the stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: FunctionSettings,
        image: AssetImage | RegistryImage,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
        description: str,
        tracing: bool = False,
        reserved_concurrency: int = 0,
    ) -> None:
        """`reserved_concurrency`: this function's own share of the account's concurrency (0: none)."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{settings.function_name}",
            retention=log_retention,
            # Logs go with the stack: a retained group of the same name would make the next deploy fail.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {settings.function_name}",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=settings.function_name,
            description=description,
            code=image.code(),
            architecture=lambda_.Architecture.X86_64,
            memory_size=settings.memory_mb,
            timeout=Duration.seconds(settings.timeout_s),
            role=self.role,
            log_group=self.log_group,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            reserved_concurrent_executions=reserved_concurrency or None,
        )
        if tracing:
            # CDK grants the X-Ray write actions on "*": X-Ray has no resource-level permissions.
            acknowledge_wildcard_resource(
                self.role,
                "*",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource ARN (tracing=true only).",
            )

    def grant_invoke(self, role: iam.IRole) -> None:
        """`lambda:InvokeFunction` on this function only (CDK's own grant adds every version too)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
