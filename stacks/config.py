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

    function_name: str
    memory_mb: int
    timeout_s: int
    repository_name: str


class AppConfig(BaseModel):
    """All configuration of the app. The values (the guide's names by default) live in cdk.json."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    stack_name: str = Field(pattern=_STACK_NAME)
    region: str = Field(pattern=_REGION)

    bucket_name: str = Field(pattern=_BUCKET_NAME)
    create_bucket: bool
    bucket_versioned: bool
    bucket_access_logs: bool
    bucket_kms_key_arn: str | None = None  # "" in cdk.json: SSE-S3

    table_name: str = Field(pattern=_TABLE_NAME)
    create_table: bool

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
    alarm_email: str = Field(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")

    image_source: Literal["asset", "ecr"]
    image_tag: str | None = Field(default=None, pattern=_IMAGE_TAG)  # "" in cdk.json
    create_repositories: bool
    clip_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    search_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    batch_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    repository_keep_images: int = Field(ge=1, le=1000)

    ci_setup: bool
    github_repository: str = Field(pattern=r"^$|^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_branch: str = Field(pattern=r"^[A-Za-z0-9_./-]+$")
    github_environment: str = Field(pattern=r"^[A-Za-z0-9_. -]+$")
    github_oidc_provider_arn: str = Field(
        pattern=r"^$|^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
    )
    cdk_qualifier: str = Field(pattern=r"^[a-z0-9]{1,10}$")
    ci_image_push: bool

    @field_validator("image_tag", mode="before")
    @classmethod
    def _empty_tag_is_none(cls, tag: object) -> object:
        return None if tag in ("", None) else tag

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
        names = [self.clip_function_name, self.search_function_name, self.batch_function_name]
        if len(set(names)) != len(names):
            raise ValueError("clip_function_name, search_function_name, batch_function_name: must differ")
        return self

    @property
    def log_retention(self) -> logs.RetentionDays:
        from aws_cdk import aws_logs as logs  # the CDK only when building stacks

        retention: logs.RetentionDays = getattr(logs.RetentionDays, LOG_RETENTION[self.log_retention_days])
        return retention

    @property
    def images_stack_name(self) -> str:
        """The stack of the ECR repositories."""
        return f"{self.stack_name}-Images"

    @property
    def clip(self) -> FunctionSettings:
        return FunctionSettings(
            function_name=self.clip_function_name,
            memory_mb=self.clip_memory_mb,
            timeout_s=self.clip_timeout_s,
            repository_name=self.clip_repository_name,
        )

    @property
    def search(self) -> FunctionSettings:
        return FunctionSettings(
            function_name=self.search_function_name,
            memory_mb=self.search_memory_mb,
            timeout_s=self.search_timeout_s,
            repository_name=self.search_repository_name,
        )

    @property
    def batch(self) -> FunctionSettings:
        return FunctionSettings(
            function_name=self.batch_function_name,
            memory_mb=self.batch_memory_mb,
            timeout_s=self.batch_timeout_s,
            repository_name=self.batch_repository_name,
        )


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
# What `python -m stacks.config --print` may print: configuration keys and these derived names.
DERIVED = ("images_stack_name",)


def main(argv: list[str] | None = None) -> int:
    """Print validated configuration values, one a line, for shell scripts and the Makefile.

        python -m stacks.config [-c key=value ...] --print region images_stack_name

    The values are cdk.json's context with the `-c` overrides, as `cdk` sees them: one source.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m stacks.config", description=main.__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--print", dest="keys", nargs="+", required=True, metavar="KEY")
    # Other cdk options in CDK_ARGS (say --profile) are not configuration: ignored here.
    args, _ = parser.parse_known_args(argv)
    context = read_cdk_json_context(CDK_JSON)
    for pair in args.context:
        key, separator, value = pair.partition("=")
        if not separator:
            parser.error(f"-c {pair}: expected key=value")
        context[key] = value
    try:
        config = load_config(context)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    for key in args.keys:
        if key not in AppConfig.model_fields and key not in DERIVED:
            print(f"{key}: not a configuration key", file=sys.stderr)
            return 1
        value = getattr(config, key)
        print("" if value is None else str(value).lower() if isinstance(value, bool) else value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
