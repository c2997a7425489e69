"""What the app derives from its configuration keys: the physical names of what it creates (per
environment), each function's settings, the page's presence and the redeploy context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

ROLES = ("clip", "search", "batch", "extract")
# The configuration keys each image is built with (its Dockerfile's ARGs, upper case): the model
# images convert the model in the configured precision. They are part of the image's tag too, so a
# pushed tag names one build. A role without an entry takes none.
IMAGE_BUILD_ARGS = {"clip": ("precision",), "batch": ("precision",)}

# The stacks' base name: ClipFrameSearch[-<environment>][-Images|-CiSetup]. Not a key: a second copy
# is an environment, which renames every physical name (a stack name alone would rename none).
APP_NAME = "ClipFrameSearch"
# Until bucket_name is chosen (a deploy requires it: deploy_problems), synth and the local system use
# the guide's name.
GUIDE_BUCKET_NAME = "totgo1"
# The GitHub environment the default environment's CI deploys through (a named one uses its name).
DEFAULT_GITHUB_ENVIRONMENT = "production"


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """What one Lambda function needs from the configuration."""

    function_name: str  # the physical name: the configured one, with the environment suffix
    memory_mb: int
    timeout_s: int
    repository_name: str  # the physical name (suffixed only when the app creates the repository)
    build_args: dict[str, str]  # the image's Docker build arguments (IMAGE_BUILD_ARGS)
    image_tag: str | None = None  # image_tag with the build arguments' values: <tag>[-fp32]
    image_digest: str | None = None  # ecr mode: deploy this digest (sha256:...) instead of the tag


class Derivations:
    """AppConfig's derived values (AppConfig inherits them; they read only its keys)."""

    if TYPE_CHECKING:  # the keys read here, declared for the type checker only (AppConfig has them)
        region: str
        environment: str
        bucket_name: str | None
        alarm_email: str
        github_environment: str | None
        cdk_qualifier: str
        create_bucket: bool
        table_name: str
        create_table: bool
        videos_stream_arn: str | None
        index_backend: str
        vector_bucket_name: str
        create_vector_index: bool
        create_repositories: bool
        api_auth: str
        frame_extraction: bool
        image_source: str
        image_tag: str | None

    @property
    def web_page(self) -> bool:
        """The page is deployed with a JWT mode only: a browser cannot sign requests with SigV4."""
        return self.api_auth != "iam"

    # Physical names. The default environment ("") keeps the guide's names. A named environment
    # suffixes every name the app chooses: stacks, functions (and so their log groups), the dashboard,
    # and the bucket, table and repositories when it creates them. Names that are global or
    # account-wide also carry what keeps two regions or two accounts apart: a created bucket the
    # account and the region (S3 names are global), the dashboard and the page's CloudFront policies
    # the region (both are account-wide). Names of existing resources (create_*=false) are used as
    # given. Queues, topics, alarms, roles and keys have names CloudFormation makes unique per stack.

    def _suffixed(self, name: str) -> str:
        return f"{name}-{self.environment}" if self.environment else name

    @property
    def service_stack_name(self) -> str:
        """The stack of the service (bucket, table, functions, monitoring)."""
        return self._suffixed(APP_NAME)

    @property
    def account_wide_name(self) -> str:
        """The name of what is one per account, not per region: the dashboard, and the prefix of the
        page's CloudFront response headers policy and origin access control."""
        return f"{self.service_stack_name}-{self.region}"

    @property
    def toolkit_stack_name(self) -> str:
        """The bootstrap stack of `cdk_qualifier` (make bootstrap): never the account's default
        CDKToolkit, which other CDK apps use."""
        return f"CDKToolkit-{self.cdk_qualifier}"

    @property
    def ci_github_environment(self) -> str:
        """The GitHub environment the CI deploy role trusts: github_environment, or the environment's
        own name, or `production` for the default environment."""
        return self.github_environment or self.environment or DEFAULT_GITHUB_ENVIRONMENT

    @property
    def images_stack_name(self) -> str:
        """The stack of the ECR repositories."""
        return f"{self.service_stack_name}-Images"

    @property
    def ci_stack_name(self) -> str:
        """The optional CI set-up stack."""
        return f"{self.service_stack_name}-CiSetup"

    @property
    def deploy_stacks(self) -> str:
        """What `make deploy`, `diff` and `destroy` act on: the service stack and, in ecr mode only, the
        repositories stack (asset mode pushes to the bootstrap's repository: ours would stand unused).
        Never the CI set-up stack: CI must not redeploy its own role (docs/operators/ci.md)."""
        stacks = [self.service_stack_name]
        return " ".join([self.images_stack_name, *stacks] if self.image_source == "ecr" else stacks)

    def physical_bucket_name(self, account: str) -> str:
        """The bucket in `account` (a CloudFormation token in the stack): a created one is
        `<bucket_name>[-<environment>]-<account>-<region>`, an existing one is `bucket_name`."""
        name = self.bucket_name or GUIDE_BUCKET_NAME
        return f"{self._suffixed(name)}-{account}-{self.region}" if self.create_bucket else name

    def access_log_bucket_name(self, account: str) -> str:
        """The created bucket's access-log bucket: named, so a redeploy finds the retained one."""
        return f"{self.physical_bucket_name(account)}-access-logs"

    @property
    def local_bucket_name(self) -> str:
        """The bucket of the local system (moto): the chosen name as it is."""
        return self.bucket_name or GUIDE_BUCKET_NAME

    def deploy_problems(self) -> list[str]:
        """What must be chosen before a deploy (synth and the local system do without), each naming
        its key: the guide's bucket belongs to someone else, and alarms need someone to reach."""
        problems = []
        if not self.bucket_name:
            problems.append(
                "bucket_name: choose the video bucket (an existing one with create_bucket=false, or the "
                "name of the one to create): cdk.json or -c bucket_name=<name>"
            )
        if not self.alarm_email:
            problems.append("alarm_email: choose who the alarms e-mail: cdk.json or -c alarm_email=<address>")
        return problems

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
        build_args = {key.upper(): str(getattr(self, key)) for key in IMAGE_BUILD_ARGS.get(role, ())}
        return FunctionSettings(
            function_name=self._suffixed(getattr(self, f"{role}_function_name")),
            memory_mb=getattr(self, f"{role}_memory_mb"),
            timeout_s=getattr(self, f"{role}_timeout_s"),
            repository_name=self._suffixed(repository) if self.create_repositories else repository,
            build_args=build_args,
            image_tag="-".join([self.image_tag, *build_args.values()]) if self.image_tag else None,
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

    @property
    def extract(self) -> FunctionSettings:
        return self._function("extract")

    @property
    def functions(self) -> dict[str, FunctionSettings]:
        """Every function the app deploys, by role (no extraction function with frame_extraction off)."""
        return {role: self._function(role) for role in self.roles}

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES if self.frame_extraction else tuple(role for role in ROLES if role != "extract")

    def redeploy_context(self, account: str, created_stream_arn: str | None = None) -> str:
        """The `-c` options that deploy onto what `cdk destroy` retained in `account` (bucket, table,
        vector bucket and index, repositories) instead of creating them again: create_*=false with
        the names they were created under, and the created table's stream (`created_stream_arn`:
        AWS names it when the table is created, so it comes from AWS: the stack's RedeployContext
        output, or the retained table, which `python -m deployment.cli --print redeploy_context`
        reads), so that the redeploy keeps the pipe that indexes videos on change."""
        options = []
        if self.create_bucket:
            options += ["create_bucket=false", f"bucket_name={self.physical_bucket_name(account)}"]
        if self.create_table:
            options += ["create_table=false", f"table_name={self.physical_table_name}"]
            if created_stream_arn:
                options.append(f"videos_stream_arn={created_stream_arn}")
        if self.index_backend == "s3vectors" and self.create_vector_index:
            options += ["create_vector_index=false", f"vector_bucket_name={self.physical_vector_bucket_name}"]
        if self.create_repositories and self.image_source == "ecr":
            options.append("create_repositories=false")
            options += [
                f"{role}_repository_name={function.repository_name}"
                for role, function in self.functions.items()
            ]
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
