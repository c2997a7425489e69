"""`python -m deployment.cli --print KEY ...`: validated configuration values for shell scripts and
the Makefile, one a line (no CDK, no Node)."""

from __future__ import annotations

from deployment.config import AppConfig, ConfigError
from deployment.context import config_with_overrides
from deployment.derived import ROLES, FunctionSettings

# What `python -m deployment.cli --print` may print: configuration keys and these derived names.
DERIVED = (
    "service_stack_name",
    "images_stack_name",
    "ci_stack_name",
    "physical_bucket_name",
    "access_log_bucket_name",
    "physical_table_name",
    "physical_vector_bucket_name",
)
# Read from AWS: the created table's stream, which only DynamoDB knows (`cdk destroy` keeps the table).
REDEPLOY_CONTEXT = "redeploy_context"


def created_table_stream(config: AppConfig, profile: str | None = None) -> str:
    """The stream of the table this configuration creates, as DynamoDB names it now (its
    LatestStreamArn; "" when the configuration creates no table), with the credentials of `profile`
    (CDK_ARGS' --profile) or the default ones; ValueError saying what to do when it cannot be read."""
    if not config.create_table:
        return ""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    table = config.physical_table_name
    try:
        dynamodb = boto3.session.Session(profile_name=profile, region_name=config.region).client("dynamodb")
        described = dynamodb.describe_table(TableName=table)
    except (BotoCoreError, ClientError) as error:
        raise ValueError(
            f"redeploy_context: cannot read the stream of table {table} in {config.region} ({error}); "
            "without it the redeploy has no pipe (new videos wait for the sweep). Use AWS credentials "
            "of the account, or take the RedeployContext output the stack printed when deployed"
        ) from None
    return str(described["Table"].get("LatestStreamArn", ""))


def main(argv: list[str] | None = None) -> int:
    """Print validated configuration values, one a line, for shell scripts and the Makefile.

        python -m deployment.cli [-c key=value ...] --print region images_stack_name clip.repository_name

    The values are cdk.json's context with the `-c` overrides, as `cdk` sees them: one source.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m deployment.cli", description=main.__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--print", dest="keys", nargs="+", required=True, metavar="KEY")
    parser.add_argument("--profile", help="AWS credentials for what is read from AWS (redeploy_context)")
    # Other cdk options in CDK_ARGS are not configuration: ignored here.
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
        elif key == REDEPLOY_CONTEXT:
            try:
                value = config.redeploy_context_with(created_table_stream(config, args.profile))
            except ValueError as error:
                print(error, file=sys.stderr)
                return 1
        elif key in AppConfig.model_fields or key in DERIVED:
            value = getattr(config, key)
        else:
            print(f"{key}: not a configuration key", file=sys.stderr)
            return 1
        print("" if value is None else str(value).lower() if isinstance(value, bool) else value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
