"""`python -m deployment.cli --print KEY ...`: validated configuration values for shell scripts and
the Makefile, one a line (no CDK, no Node)."""

from __future__ import annotations

from deployment.config import AppConfig, ConfigError
from deployment.context import config_with_overrides
from deployment.derived import ROLES, FunctionSettings

# What `python -m deployment.cli --print` may print: configuration keys and these derived names.
# (and `roles`, the functions' names, which every image script loops over)
DERIVED = (
    "service_stack_name",
    "images_stack_name",
    "ci_stack_name",
    "toolkit_stack_name",
    "deploy_stacks",
    "account_wide_name",
    "ci_github_environment",
    "physical_table_name",
    "physical_vector_bucket_name",
)
# Derived names that depend on the account (--account): what a created bucket is called.
PER_ACCOUNT = ("physical_bucket_name", "access_log_bucket_name")
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
        python -m deployment.cli --account 111122223333 --print redeploy_context
        python -m deployment.cli [-c key=value ...] --check-deploy

    The values are cdk.json's context with the `-c` overrides, as `cdk` sees them: one source.
    `--check-deploy` fails, naming each key, unless what a deploy needs is chosen.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m deployment.cli", description=main.__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--print", dest="keys", nargs="+", default=[], metavar="KEY")
    parser.add_argument("--account", help="the AWS account, for the names that carry it")
    parser.add_argument("--profile", help="AWS credentials for what is read from AWS (redeploy_context)")
    parser.add_argument("--check-deploy", action="store_true")
    # Other cdk options in CDK_ARGS are not configuration: ignored here.
    args, _ = parser.parse_known_args(argv)
    try:
        config = config_with_overrides(args.context)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except ValueError as error:
        parser.error(str(error))
    if args.check_deploy and (problems := config.deploy_problems()):
        print("not ready to deploy:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    for key in args.keys:
        # and a function's physical names: clip.function_name, batch.repository_name, ...
        role, dot, field = key.partition(".")
        if key == "roles":  # the functions, one image each: what the scripts loop over
            value = " ".join(ROLES)
        elif dot and role in ROLES and field in FunctionSettings.__dataclass_fields__:
            value = getattr(getattr(config, role), field)
        elif key == REDEPLOY_CONTEXT:
            if not args.account:
                print(f"{key}: needs --account (a created bucket's name carries it)", file=sys.stderr)
                return 1
            try:
                value = config.redeploy_context(args.account, created_table_stream(config, args.profile))
            except ValueError as error:
                print(error, file=sys.stderr)
                return 1
        elif key in AppConfig.model_fields or key in DERIVED:
            value = getattr(config, key)
        elif key in PER_ACCOUNT and args.account:
            value = getattr(config, key)(args.account)
        elif key in PER_ACCOUNT:
            print(f"{key}: needs --account (it carries the account)", file=sys.stderr)
            return 1
        else:
            print(f"{key}: not a configuration key", file=sys.stderr)
            return 1
        if isinstance(value, dict):  # build arguments: KEY=VALUE ...
            value = " ".join(f"{name}={item}" for name, item in value.items())
        print("" if value is None else str(value).lower() if isinstance(value, bool) else value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
