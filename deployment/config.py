"""The app's configuration keys and what each may hold: cdk.json's context (or `-c key=value`),
validated once (app.py, the local system, the scripts). No CDK import.

cdk.json holds every value, so it is the one place defaults live. Every key is flat so that it can
be overridden with `cdk deploy -c key=value`; values given on the command line arrive as strings
and are coerced ("4096" -> 4096, "false" -> False).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployment.derived import ROLES, Derivations

# The retention periods CloudWatch Logs accepts, in days, and their `logs.RetentionDays` names
# (by name: this module never loads the CDK; the stacks look the name up).
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
# A DynamoDB stream: arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label (a timestamp:
# milliseconds from AWS, microseconds from moto, whose tables the tests redeploy onto)>.
_STREAM_ARN = (
    r"^arn:aws[a-z-]*:dynamodb:(?P<region>[a-z0-9-]+):\d{12}:table/(?P<table>[A-Za-z0-9_.-]{3,255})"
    r"/stream/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?$"
)
# EventBridge Scheduler's recurring expressions: rate(1 day), rate(6 hours), cron(0 3 * * ? *).
_SCHEDULE = (
    r"^$|^rate\((?:1 (?:minute|hour|day)|(?:[2-9]|[1-9]\d+) (?:minutes|hours|days))\)$"
    r"|^cron\(\S+(?: \S+){5}\)$"
)

# An account id's length, where a derived name's length is checked offline.
_ACCOUNT = "0" * 12

# Lambda gives 1 vCPU per 1,769 MB, 6 vCPUs at 10,240 MB; timeouts stop at 15 minutes.
MemoryMB = Annotated[int, Field(ge=128, le=10240)]
TimeoutS = Annotated[int, Field(ge=1, le=900)]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


class AppConfig(Derivations, BaseModel):
    """All configuration of the app. The values (the guide's names by default) live in cdk.json."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    region: str = Field(pattern=_REGION)
    # "" is the guide's names; "dev" suffixes every name the app chooses (see `physical names` below).
    environment: str = Field(pattern=_ENVIRONMENT)

    # "" in cdk.json: not chosen yet (a deploy refuses it; synth and the local system use the guide's)
    bucket_name: str | None = Field(default=None, pattern=_BUCKET_NAME)
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

    # Video in: uploads/ -> S3 notification -> ingest queue -> the extraction function -> frames/ and a
    # `processed` row (off for users whose own frame pipeline writes those).
    frame_extraction: bool
    extract_function_name: str = Field(pattern=_FUNCTION_NAME)
    extract_memory_mb: MemoryMB
    extract_timeout_s: TimeoutS
    extract_max_concurrency: int = Field(ge=2, le=1000)  # the ingest queue's mapping's MaximumConcurrency
    extract_fps: float = Field(gt=0, le=60)  # frames kept per second of video (the step: round(fps / this))
    extract_max_frames: int = Field(ge=1, le=1_000_000)
    extract_max_seconds: int = Field(ge=1, le=86_400)  # longer videos end `failed` (too_long)
    extract_max_upload_mb: int = Field(ge=1, le=5120)  # a presigned POST's and S3 single PUT's limit: 5 GB
    extract_max_side: int = Field(ge=0, le=8192)  # a frame's long side in pixels (0: as decoded)
    ingest_max_receives: int = Field(ge=1, le=10)  # receives before the ingest dead-letter queue

    # The work queue (SQS FIFO) in front of the batch function, and what feeds it.
    work_max_receives: int = Field(ge=1, le=10)  # receives before the dead-letter queue
    batch_max_concurrency: int = Field(ge=2, le=1000)  # the event source mapping's MaximumConcurrency range
    # Reserved concurrency of the search function and of the CLIP function each search calls: a
    # backfill (batch_max_concurrency) then cannot starve them. 0 reserves none (an account whose
    # quota is 10 can reserve nothing: Lambda keeps 10 unreserved; scripts/check-concurrency.sh).
    search_reserved_concurrency: int = Field(ge=0, le=1000)
    work_max_age_s: int = Field(ge=60, le=1209600)  # the oldest-message alarm (at most SQS's 14 days)
    videos_stream_arn: str | None = None  # "" in cdk.json: the stream of a created table, or none
    sweep_schedule: str = Field(pattern=_SCHEDULE)  # "" turns the sweep off

    log_retention_days: int
    tracing: bool
    # The model images' inference precision (clipsearch/model/export_onnx.py at image build): int8 is opt in
    # and gated there against fp32 on the probe set. The same model id either way (searchable together).
    precision: Literal["fp32", "int8"]
    # What the batch function writes as it embeds: a `.npy` per frame (the guide's), or only the packed
    # object per video (one PUT per video, not per frame: docs/decisions/0015-frame-cache.md).
    frame_cache: Literal["per-frame", "packed"]
    alarm_email: str = Field(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")

    image_source: Literal["asset", "ecr"]
    image_tag: str | None = Field(default=None, pattern=_IMAGE_TAG)  # "" in cdk.json
    create_repositories: bool
    clip_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    search_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    batch_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    extract_repository_name: str = Field(pattern=_REPOSITORY_NAME)
    repository_keep_images: int = Field(ge=1, le=1000)
    repository_tag_mutability: Literal["IMMUTABLE", "MUTABLE"]
    # ecr mode: the digests `make deploy` resolves image_tag to (scripts/image-digests.sh); "" = the tag
    clip_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)
    search_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)
    batch_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)
    extract_image_digest: str | None = Field(default=None, pattern=_IMAGE_DIGEST)

    # The HTTP API in front of the search function and the page (docs/api/http.md).
    # cognito: a user pool + app client (PKCE) + managed login domain the stack creates; jwt: an existing
    # issuer and audience; iam: SigV4-signed calls only (no page: a browser has no AWS credentials).
    api_auth: Literal["cognito", "jwt", "iam"]
    api_jwt_issuer: str | None = None  # jwt: the issuer URL (https://...), as the tokens' `iss` names it
    api_jwt_audience: str | None = None  # jwt: the accepted `aud` / `client_id` values, comma separated
    # jwt: scopes one of which every route requires (comma separated; "" requires none: then every
    # token the issuer makes for the audience, ID tokens included, gets in)
    api_jwt_scopes: str | None = None
    # jwt, with frame_extraction: scopes one of which the upload routes require (comma separated; ""
    # requires the same as the search routes)
    api_jwt_upload_scopes: str | None = None
    cognito_domain_prefix: str | None = Field(default=None, pattern=_COGNITO_PREFIX)  # "": derived
    api_throttle_rate: int = Field(ge=1, le=10000)  # requests per second, steady (the stage's)
    api_throttle_burst: int = Field(ge=1, le=5000)  # requests at once
    frame_url_seconds: int = Field(ge=60, le=3600)  # lifetime of a result's presigned frame URL

    ci_setup: bool
    github_repository: str = Field(pattern=r"^$|^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_branch: str = Field(pattern=r"^[A-Za-z0-9_./-]+$")
    github_environment: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_. -]+$")  # "": derived
    # IAM holds one GitHub OIDC provider per account: exactly one CI set-up per account creates it
    # (the first); every other environment and region uses it.
    create_github_oidc_provider: bool
    cdk_qualifier: str = Field(pattern=r"^[a-z0-9]{1,10}$")

    @field_validator(
        "bucket_name",
        "github_environment",
        "image_tag",
        "clip_image_digest",
        "search_image_digest",
        "batch_image_digest",
        "extract_image_digest",
        "api_jwt_issuer",
        "api_jwt_audience",
        "api_jwt_scopes",
        "api_jwt_upload_scopes",
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
    def _check_bucket_name(cls, name: str | None) -> str | None:
        if name is None:
            return name
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
        names = [getattr(self, f"{role}_function_name") for role in ROLES]
        if len(set(names)) != len(names):
            raise ValueError(f"{', '.join(f'{role}_function_name' for role in ROLES)}: must differ")
        for role in ROLES:
            if len(getattr(self, role).function_name) > 64:
                raise ValueError(
                    f"{role}_function_name: with the environment suffix longer than 64 characters"
                )
        for bucket in (self.physical_bucket_name(_ACCOUNT), self.access_log_bucket_name(_ACCOUNT)):
            if self.create_bucket and len(bucket) > 63:
                raise ValueError(
                    f"bucket_name: the bucket {bucket!r} (environment, account and region added) is "
                    "longer than 63"
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
        if self.api_auth != "jwt" and self.api_jwt_upload_scopes:
            raise ValueError("api_jwt_upload_scopes: only with api_auth=jwt")
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
        # <stack name>-<account id>: 39 characters at most (an environment has 10), within Cognito's 63
        derived = f"{self.service_stack_name.lower()}-{_ACCOUNT}"
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
    def jwt_upload_scopes(self) -> list[str]:
        """api_jwt_upload_scopes as a list (empty: the search routes' scopes)."""
        return [part.strip() for part in (self.api_jwt_upload_scopes or "").split(",") if part.strip()]
