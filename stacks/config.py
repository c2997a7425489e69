"""The app's configuration: `cdk.json` context (or `-c key=value`), validated once in `app.py`.

cdk.json holds every value, so it is the one place defaults live; `read_cdk_json_context` lets
`python app.py` and the tests see exactly what the CDK CLI sees.

Every key is flat so that it can be overridden with `cdk deploy -c key=value`; values given on the
command line arrive as strings and are coerced ("4096" -> 4096, "false" -> False).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from aws_cdk import aws_logs as logs

# The retention periods CloudWatch Logs accepts, in days, and their `logs.RetentionDays` names
# (by name: this module stays importable without loading the CDK, see `main`).
LOG_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip

_BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"  # plus the checks in _check_bucket_name
_TABLE_NAME = r"^[A-Za-z0-9_.-]{3,255}$"
_FUNCTION_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_REPOSITORY_NAME = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
_IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_REGION = r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$"
_KMS_KEY_ARN = (
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/"
    r"(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_STACK_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,120}$"
# Lower case and short: it ends up in bucket and repository names (lower case only) and in function
# names (64 characters at most).
_ENVIRONMENT = r"^$|^[a-z][a-z0-9]{0,9}$"
_IMAGE_DIGEST = r"^sha256:[0-9a-f]{64}$"
# A Cognito domain prefix: lower case letters, digits and hyphens (it must not hold aws, amazon or
# cognito: checked below).
_COGNITO_PREFIX = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_HTTPS_URL = r"^https://[A-Za-z0-9.-]+(?::\d+)?(?:/\S*)?$"
# S3 Vectors names (vector bucket and index): 3-63 lower-case letters, digits and hyphens, starting and
# ending with a letter or digit. Vector bucket names are unique per account and region, not globally.
_VECTOR_NAME = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
ROLES = ("clip", "search", "batch")
# A DynamoDB stream: arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label (a timestamp)>.
_STREAM_ARN = (
    r"^arn:aws[a-z-]*:dynamodb:(?P<region>[a-z0-9-]+):\d{12}:table/(?P<table>[A-Za-z0-9_.-]{3,255})"
    r"/stream/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$"
)
# EventBridge Scheduler's recurring expressions: rate(1 day), rate(6 hours), cron(0 3 * * ? *).
_SCHEDULE = (
    r"^$|^rate\((?:1 (?:minute|hour|day)|(?:[2-9]|[1-9]\d+) (?:minutes|hours|days))\)$"
    r"|^cron\(\S+(?: \S+){5}\)$"
)

# Lambda gives 1 vCPU per 1,769 MB, 6 vCPUs at 10,240 MB; timeouts stop at 15 minutes.
MemoryMB = Annotated[int, Field(ge=128, le=10240)]
TimeoutS = Annotated[int, Field(ge=1, le=900)]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """What one Lambda function needs from the configuration."""

    function_name: str  # the physical name: the configured one, with the environment suffix
    memory_mb: int
    timeout_s: int
    repository_name: str  # the physical name (suffixed only when the app creates the repository)
    image_digest: str | None = None  # ecr mode: deploy this digest (sha256:...) instead of the tag


class AppConfig(BaseModel):
    """All configuration of the app. The values (the guide's names by default) live in cdk.json."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    stack_name: str = Field(pattern=_STACK_NAME)
    region: str = Field(pattern=_REGION)
    # "" is the guide's names; "dev" suffixes every name the app chooses (see `physical names` below).
    environment: str = Field(pattern=_ENVIRONMENT)

    bucket_name: str = Field(pattern=_BUCKET_NAME)
    create_bucket: bool
    bucket_versioned: bool
    bucket_access_logs: bool
    bucket_kms_key_arn: str | None = None  # "" in cdk.json: SSE-S3

    table_name: str = Field(pattern=_TABLE_NAME)
    create_table: bool

    # Where the search looks for nearest frames: `memory` (the search function's own exact scan of the
    # cached vectors) or `s3vectors` (an Amazon S3 Vectors index the batch function fills).
    index_backend: Literal["memory", "s3vectors"]
    vector_bucket_name: str = Field(pattern=_VECTOR_NAME)
    vector_index_name: str = Field(pattern=_VECTOR_NAME)
    create_vector_index: bool  # false: use the existing vector bucket and index of these names

    clip_function_name: str = Field(pattern=_FUNCTION_NAME)
    clip_memory_mb: MemoryMB
    clip_timeout_s: TimeoutS
    search_function_name: str = Field(pattern=_FUNCTION_NAME)
    search_memory_mb: MemoryMB
    search_timeout_s: TimeoutS
    batch_function_name: str = Field(pattern=_FUNCTION_NAME)
    batch_memory_mb: MemoryMB
    batch_timeout_s: TimeoutS
    # Lambda's limits for asynchronous invocations: 0-2 retries, events kept 60 s to 6 h.
    batch_async_retries: int = Field(ge=0, le=2)
    batch_async_max_event_age_s: int = Field(ge=60, le=21600)

    # The work queue (SQS FIFO) in front of the batch function, and what feeds it.
    work_max_receives: int = Field(ge=1, le=10)  # receives before the dead-letter queue
    batch_max_concurrency: int = Field(ge=2, le=1000)  # the event source mapping's MaximumConcurrency range
    work_max_age_s: int = Field(ge=60, le=1209600)  # the oldest-message alarm (at most SQS's 14 days)
    videos_stream_arn: str | None = None  # "" in cdk.json: the stream of a created table, or none
    sweep_schedule: str = Field(pattern=_SCHEDULE)  # "" turns the sweep off

    log_retention_days: int
    tracing: bool
    # The model images' inference precision (clipsearch/export_onnx.py at image build): int8 is opt in
    # and gated there against fp32 on the probe set. The same model id either way (searchable together).
    precision: Literal["fp32", "int8"]
    alarm_email: str = Field(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")

    image_source: Literal["asset", "ecr"]
    image_tag: str | None = Field(default=None, pattern=_IMAGE_TAG)  # "" in cdk.json
    create_repositories: bool
    clip_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    search_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    batch_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    repository_keep_images: int = Field(ge=1, le=1000)
    repository_tag_mutability: Literal["IMMUTABLE", "MUTABLE"]
    # ecr mode: the digests `make deploy` resolves image_tag to (scripts/image-digests.sh); "" = the tag
    clip_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)
    search_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)
    batch_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)

    # The HTTP API in front of the search function and the page (README: Search from a browser).
    # cognito: a user pool + app client (PKCE) + managed login domain the stack creates; jwt: an existing
    # issuer and audience; iam: SigV4-signed calls only (no page: a browser has no AWS credentials).
    api_auth: Literal["cognito", "jwt", "iam"]
    api_jwt_issuer: str | None = None  # jwt: the issuer URL (https://...), as the tokens' `iss` names it
    api_jwt_audience: str | None = None  # jwt: the accepted `aud` / `client_id` values, comma separated
    # jwt: scopes one of which every route requires (comma separated; "" requires none: then every
    # token the issuer makes for the audience, ID tokens included, gets in)
    api_jwt_scopes: str | None = None
    cognito_domain_prefix: str | None = Field(default=None, pattern=_COGNITO_PREFIX)  # "": derived
    api_throttle_rate: int = Field(ge=1, le=10000)  # requests per second, steady (the stage's)
    api_throttle_burst: int = Field(ge=1, le=5000)  # requests at once
    frame_url_seconds: int = Field(ge=60, le=3600)  # lifetime of a result's presigned frame URL

    ci_setup: bool
    github_repository: str = Field(pattern=r"^$|^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_branch: str = Field(pattern=r"^[A-Za-z0-9_./-]+$")
    github_environment: str = Field(pattern=r"^[A-Za-z0-9_. -]+$")
    github_oidc_provider_arn: str = Field(
        pattern=r"^$|^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
    )
    cdk_qualifier: str = Field(pattern=r"^[a-z0-9]{1,10}$")
    ci_image_push: bool

    @field_validator(
        "image_tag",
        "clip_image_digest",
        "search_image_digest",
        "batch_image_digest",
        "api_jwt_issuer",
        "api_jwt_audience",
        "api_jwt_scopes",
        "cognito_domain_prefix",
        mode="before",
    )
    @classmethod
    def _empty_tag_is_none(cls, tag: object) -> object:
        return None if tag in ("", None) else tag

    @field_validator("repository_tag_mutability", mode="before")
    @classmethod
    def _upper_case_mutability(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("bucket_kms_key_arn", mode="before")
    @classmethod
    def _check_kms_key_arn(cls, arn: object) -> object:
        if arn in ("", None):
            return None
        if not isinstance(arn, str) or not re.fullmatch(_KMS_KEY_ARN, arn.strip()):
            raise ValueError("not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)")
        return arn.strip()

    @field_validator("videos_stream_arn", mode="before")
    @classmethod
    def _check_stream_arn(cls, arn: object) -> object:
        if arn in ("", None):
            return None
        if not isinstance(arn, str) or not re.fullmatch(_STREAM_ARN, arn.strip()):
            raise ValueError(
                "not a DynamoDB stream ARN (arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>)"
            )
        return arn.strip()

    @field_validator("bucket_name")
    @classmethod
    def _check_bucket_name(cls, name: str) -> str:
        if ".." in name or name.startswith("xn--") or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
            raise ValueError("not a valid S3 bucket name (no '..', no 'xn--' prefix, not an IP address)")
        return name

    @model_validator(mode="after")
    def _check_combinations(self) -> AppConfig:
        if self.log_retention_days not in LOG_RETENTION:
            raise ValueError(
                f"log_retention_days: {self.log_retention_days} is not a CloudWatch Logs retention; "
                f"use one of {', '.join(map(str, LOG_RETENTION))}"
            )
        if self.image_source == "ecr" and not self.image_tag:
            raise ValueError(
                "image_tag: required when image_source is 'ecr' (the tag pushed by `make images`)"
            )
        if self.ci_setup and not self.github_repository:
            raise ValueError(
                "github_repository: required when ci_setup is true (owner/name of the repository)"
            )
        key = re.fullmatch(_KMS_KEY_ARN, self.bucket_kms_key_arn or "")
        if key and key["region"] != self.region:
            raise ValueError(
                f"bucket_kms_key_arn: the key is in {key['region']}, the stacks in {self.region} "
                "(S3 uses keys of the bucket's region only)"
            )
        stream = re.fullmatch(_STREAM_ARN, self.videos_stream_arn or "")
        if stream and self.create_table:
            raise ValueError(
                "videos_stream_arn: only with create_table=false (a created table gets its own stream)"
            )
        if stream and (stream["table"], stream["region"]) != (self.table_name, self.region):
            raise ValueError(
                f"videos_stream_arn: the stream of table {stream['table']} in {stream['region']}, "
                f"not of {self.table_name} in {self.region}"
            )
        self._check_api_auth()
        names = [self.clip_function_name, self.search_function_name, self.batch_function_name]
        if len(set(names)) != len(names):
            raise ValueError("clip_function_name, search_function_name, batch_function_name: must differ")
        for role in ROLES:
            if len(getattr(self, role).function_name) > 64:
                raise ValueError(
                    f"{role}_function_name: with the environment suffix longer than 64 characters"
                )
        for bucket in (self.physical_bucket_name, self.access_log_bucket_name):
            if self.create_bucket and len(bucket) > 63:
                raise ValueError(
                    f"bucket_name: the bucket {bucket!r} (environment and region added) is longer than 63"
                )
        if self.index_backend == "s3vectors" and len(self.physical_vector_bucket_name) > 63:
            raise ValueError(
                f"vector_bucket_name: {self.physical_vector_bucket_name!r} (environment added) is longer "
                "than 63"
            )
        return self

    def _check_api_auth(self) -> None:
        jwt_keys = {"api_jwt_issuer": self.api_jwt_issuer, "api_jwt_audience": self.api_jwt_audience}
        if self.api_auth != "jwt" and self.api_jwt_scopes:
            raise ValueError("api_jwt_scopes: only with api_auth=jwt")
        if self.api_auth == "jwt":
            for key, value in jwt_keys.items():
                if not value:
                    raise ValueError(f"{key}: required when api_auth is 'jwt'")
            if not re.fullmatch(_HTTPS_URL, self.api_jwt_issuer or ""):
                raise ValueError(
                    f"api_jwt_issuer: must be an https:// URL (the tokens' iss), got {self.api_jwt_issuer!r}"
                )
            if not all(self.jwt_audience):
                raise ValueError("api_jwt_audience: comma-separated values, none of them empty")
        else:
            for key, value in jwt_keys.items():
                if value:
                    raise ValueError(f"{key}: only with api_auth=jwt (api_auth is {self.api_auth!r})")
        prefix = self.cognito_domain_prefix or ""
        derived = f"{self.service_stack_name.lower()}-" + "0" * 12  # <stack name>-<account id>
        if self.api_auth == "cognito" and not prefix and len(derived) > 63:
            raise ValueError(
                f"cognito_domain_prefix: the derived prefix {self.service_stack_name.lower()}-<account id> "
                "is longer than 63 characters; set one"
            )
        if self.api_auth != "cognito" and prefix:
            raise ValueError("cognito_domain_prefix: only with api_auth=cognito")
        forbidden = [word for word in ("aws", "amazon", "cognito") if word in (prefix or derived)]
        if self.api_auth == "cognito" and forbidden:
            raise ValueError(
                "cognito_domain_prefix: must not contain aws, amazon or cognito (Cognito's rule)"
            )

    @property
    def jwt_audience(self) -> list[str]:
        """api_jwt_audience as a list (empty unless api_auth is jwt)."""
        return (
            [part.strip() for part in (self.api_jwt_audience or "").split(",")]
            if self.api_jwt_audience
            else []
        )

    @property
    def jwt_scopes(self) -> list[str]:
        """api_jwt_scopes as a list (empty: no scope required)."""
        return [part.strip() for part in (self.api_jwt_scopes or "").split(",") if part.strip()]

    @property
    def web_page(self) -> bool:
        """The page is deployed with a JWT mode only: a browser cannot sign requests with SigV4."""
        return self.api_auth != "iam"

    @property
    def log_retention(self) -> logs.RetentionDays:
        from aws_cdk import aws_logs as logs  # the CDK only when building stacks

        retention: logs.RetentionDays = getattr(logs.RetentionDays, LOG_RETENTION[self.log_retention_days])
        return retention

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

    @property
    def redeploy_context(self) -> str:
        """The `-c` options that deploy onto what `cdk destroy` retained (bucket, table, vector bucket and
        index, repositories) instead of creating them again: create_*=false with the names they were
        created under."""
        options = []
        if self.create_bucket:
            options += ["create_bucket=false", f"bucket_name={self.physical_bucket_name}"]
        if self.create_table:
            options += ["create_table=false", f"table_name={self.physical_table_name}"]
        if self.index_backend == "s3vectors" and self.create_vector_index:
            options += ["create_vector_index=false", f"vector_bucket_name={self.physical_vector_bucket_name}"]
        if self.create_repositories:
            options.append("create_repositories=false")
            options += [f"{role}_repository_name={getattr(self, role).repository_name}" for role in ROLES]
        return " ".join(f"-c {option}" for option in options)


def _is_cdk_internal(key: str) -> bool:
    """Feature flags (`@aws-cdk/...`) and CLI/lookup keys (`aws:cdk:...`, `availability-zones:...`)."""
    return key.startswith("@") or ":" in key


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Validate the app's context; raise ConfigError naming every bad key."""
    ours = {key: value for key, value in context.items() if not _is_cdk_internal(key)}
    try:
        return AppConfig.model_validate(ours)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            key = ".".join(str(part) for part in issue["loc"])
            if issue["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown configuration key (typo?)")
            elif issue["type"] == "missing":
                problems.append(f"{key}: missing (every key has a value in cdk.json)")
            elif key:
                problems.append(f"{key}: {issue['msg']} (got {issue.get('input')!r})")
            else:
                problems.append(issue["msg"].removeprefix("Value error, "))
        raise ConfigError(
            "invalid configuration in cdk.json context / -c:\n  " + "\n  ".join(problems)
        ) from None


def read_cdk_json_context(cdk_json: Path) -> dict[str, Any]:
    """The `context` of cdk.json: configuration values and CDK feature flags."""
    context = json.loads(cdk_json.read_text())["context"]
    assert isinstance(context, dict)
    return context


CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def config_with_overrides(pairs: list[str]) -> AppConfig:
    """cdk.json's configuration with `-c key=value` overrides, as `cdk` sees it (ConfigError, or
    ValueError for a pair without `=`)."""
    context = read_cdk_json_context(CDK_JSON)
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"-c {pair}: expected key=value")
        context[key] = value
    return load_config(context)


# What `python -m stacks.config --print` may print: configuration keys and these derived names.
DERIVED = (
    "service_stack_name",
    "images_stack_name",
    "ci_stack_name",
    "physical_bucket_name",
    "access_log_bucket_name",
    "physical_table_name",
    "physical_vector_bucket_name",
    "redeploy_context",
)


def main(argv: list[str] | None = None) -> int:
    """Print validated configuration values, one a line, for shell scripts and the Makefile.

        python -m stacks.config [-c key=value ...] --print region images_stack_name clip.repository_name

    The values are cdk.json's context with the `-c` overrides, as `cdk` sees them: one source.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m stacks.config", description=main.__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--print", dest="keys", nargs="+", required=True, metavar="KEY")
    # Other cdk options in CDK_ARGS (say --profile) are not configuration: ignored here.
    args, _ = parser.parse_known_args(argv)
    try:
        config = config_with_overrides(args.context)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except ValueError as error:
        parser.error(str(error))
    for key in args.keys:
        # and a function's physical names: clip.function_name, batch.repository_name, ...
        role, dot, field = key.partition(".")
        if dot and role in ROLES and field in FunctionSettings.__dataclass_fields__:
            value = getattr(getattr(config, role), field)
        elif key in AppConfig.model_fields or key in DERIVED:
            value = getattr(config, key)
        else:
            print(f"{key}: not a configuration key", file=sys.stderr)
            return 1
        print("" if value is None else str(value).lower() if isinstance(value, bool) else value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
