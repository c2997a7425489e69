"""What the app derives from its configuration keys: the physical names of what it creates (per
environment), each function's settings, the page's presence and the redeploy context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

ROLES = ("clip", "search", "batch")


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """What one Lambda function needs from the configuration."""

    function_name: str  # the physical name: the configured one, with the environment suffix
    memory_mb: int
    timeout_s: int
    repository_name: str  # the physical name (suffixed only when the app creates the repository)
    image_digest: str | None = None  # ecr mode: deploy this digest (sha256:...) instead of the tag


class Derivations:
    """AppConfig's derived values (AppConfig inherits them; they read only its keys)."""

    if TYPE_CHECKING:  # the keys read here, declared for the type checker only (AppConfig has them)
        stack_name: str
        region: str
        environment: str
        bucket_name: str
        create_bucket: bool
        table_name: str
        create_table: bool
        videos_stream_arn: str | None
        index_backend: str
        vector_bucket_name: str
        create_vector_index: bool
        create_repositories: bool
        api_auth: str

    @property
    def web_page(self) -> bool:
        """The page is deployed with a JWT mode only: a browser cannot sign requests with SigV4."""
        return self.api_auth != "iam"

    # Physical names. The default environment ("") keeps the guide's names. A named environment
    # suffixes every name the app chooses: stacks, functions (and so their log groups), the dashboard,
    # and the bucket, table and repositories when it creates them; a bucket also gets the region, as
    # S3 names are global. Names of existing resources (create_*=false) are used as given. Queues,
    # topics, alarms, roles and keys have names CloudFormation makes unique per stack.

    def _suffixed(self, name: str) -> str:
        return f"{name}-{self.environment}" if self.environment else name

    @property
    def service_stack_name(self) -> str:
        """The stack of the service (bucket, table, functions, monitoring); also the dashboard's name."""
        return self._suffixed(self.stack_name)

    @property
    def images_stack_name(self) -> str:
        """The stack of the ECR repositories."""
        return f"{self.service_stack_name}-Images"

    @property
    def ci_stack_name(self) -> str:
        """The optional CI set-up stack."""
        return f"{self.service_stack_name}-CiSetup"

    @property
    def physical_bucket_name(self) -> str:
        if self.create_bucket and self.environment:
            return f"{self.bucket_name}-{self.environment}-{self.region}"
        return self.bucket_name

    @property
    def access_log_bucket_name(self) -> str:
        """The created bucket's access-log bucket: named, so a redeploy finds the retained one."""
        return f"{self.physical_bucket_name}-access-logs"

    @property
    def physical_table_name(self) -> str:
        return self._suffixed(self.table_name) if self.create_table else self.table_name

    @property
    def physical_vector_bucket_name(self) -> str:
        """The S3 Vectors bucket (index_backend=s3vectors): unique per account and region, so the
        environment suffix alone keeps environments apart."""
        return (
            self._suffixed(self.vector_bucket_name) if self.create_vector_index else self.vector_bucket_name
        )

    def _function(self, role: str) -> FunctionSettings:
        repository = getattr(self, f"{role}_repository_name")
        return FunctionSettings(
            function_name=self._suffixed(getattr(self, f"{role}_function_name")),
            memory_mb=getattr(self, f"{role}_memory_mb"),
            timeout_s=getattr(self, f"{role}_timeout_s"),
            repository_name=self._suffixed(repository) if self.create_repositories else repository,
            image_digest=getattr(self, f"{role}_image_digest"),
        )

    @property
    def clip(self) -> FunctionSettings:
        return self._function("clip")

    @property
    def search(self) -> FunctionSettings:
        return self._function("search")

    @property
    def batch(self) -> FunctionSettings:
        return self._function("batch")

    def redeploy_context_with(self, created_stream_arn: str | None) -> str:
        """The `-c` options that deploy onto what `cdk destroy` retained (bucket, table, vector bucket and
        index, repositories) instead of creating them again: create_*=false with the names they were
        created under, and the created table's stream (`created_stream_arn`: AWS names it when the
        table is created, so it comes from AWS: the stack's RedeployContext output, or the retained
        table, which `python -m deployment.cli --print redeploy_context` reads), so that the redeploy
        keeps the pipe that indexes videos on change."""
        options = []
        if self.create_bucket:
            options += ["create_bucket=false", f"bucket_name={self.physical_bucket_name}"]
        if self.create_table:
            options += ["create_table=false", f"table_name={self.physical_table_name}"]
            if created_stream_arn:
                options.append(f"videos_stream_arn={created_stream_arn}")
        if self.index_backend == "s3vectors" and self.create_vector_index:
            options += ["create_vector_index=false", f"vector_bucket_name={self.physical_vector_bucket_name}"]
        if self.create_repositories:
            options.append("create_repositories=false")
            options += [f"{role}_repository_name={getattr(self, role).repository_name}" for role in ROLES]
        return " ".join(f"-c {option}" for option in options)

    @property
    def synth_warnings(self) -> list[str]:
        """What synth says loudly (a warning) that is valid but rarely meant."""
        warnings = []
        if not self.create_table and not self.videos_stream_arn:
            warnings.append(
                f"table {self.table_name} is used without videos_stream_arn: no pipe indexes videos on "
                "change, new videos wait for the sweep (daily by default). Redeploying a table this app "
                "created? Take the options `python -m deployment.cli --print redeploy_context` prints."
            )
        return warnings
