"""The CloudFormation execution policy of this app's own bootstrap (make bootstrap), instead of the
default bootstrap's AdministratorAccess: what CloudFormation's handlers need for the resource types
the service and repositories stacks deploy (bootstrap_actions.json, from the resource schemas:
scripts/bootstrap_actions.py), IAM only on this app's roles, and never the CI set-up stack's roles
(that stack is deployed with an administrator's own credentials). No CDK import.

    .venv/bin/python -m deployment.bootstrap_policy --account 111122223333 [-c key=value ...]

prints the policy documents, one JSON document a line: IAM caps a managed policy at 6,144 characters,
so the statements are packed into as few documents as fit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from deployment.config import AppConfig
from deployment.context import config_with_overrides
from deployment.derived import APP_NAME

ACTIONS_FILE = Path(__file__).with_name("bootstrap_actions.json")
# CloudFormation invokes a custom resource's provider function; CDK's metadata and the images
# stack's no-op resource (when the repositories are retained) are CloudFormation's own: nothing.
CUSTOM_RESOURCE_ACTIONS = ("lambda:InvokeFunction",)
NO_ACTIONS = ("AWS::CDK::Metadata", "AWS::CloudFormation::WaitConditionHandle")
MAX_POLICY_CHARACTERS = 6144  # IAM's limit for a managed policy (whitespace not counted)


def resource_actions() -> dict[str, list[str]]:
    """Resource type -> the permissions its CloudFormation handlers need."""
    actions: dict[str, list[str]] = json.loads(ACTIONS_FILE.read_text())
    return actions


def covers(resource_type: str) -> bool:
    """Whether the execution policy lets CloudFormation deploy `resource_type`."""
    return (
        resource_type in resource_actions()
        or resource_type.startswith("Custom::")
        or (resource_type in NO_ACTIONS)
    )


def statements(config: AppConfig, account: str, partition: str = "aws") -> list[dict[str, Any]]:
    every = sorted({action for actions in resource_actions().values() for action in actions})
    iam = f"arn:{partition}:iam::{account}"
    services = sorted({action.split(":")[0] for action in every} - {"iam"})
    found: list[dict[str, Any]] = [
        {
            "Sid": f"Resources{service.replace('-', '').title()}",
            "Effect": "Allow",
            "Action": [action for action in every if action.split(":")[0] == service],
            "Resource": "*",
        }
        for service in services
    ]
    found += [
        {
            # The roles CloudFormation names after this app's stacks, and the service-linked roles
            # a service may create on first use; no user, group or other role.
            "Sid": "OwnRoles",
            "Effect": "Allow",
            "Action": [action for action in every if action.startswith("iam:")],
            "Resource": [f"{iam}:role/{APP_NAME}*", f"{iam}:role/aws-service-role/*"],
        },
        {
            # The CI set-up stack's deploy role is not CI's to change (docs/operators/ci.md).
            "Sid": "NotTheCiSetupsRoles",
            "Effect": "Deny",
            "Action": "iam:*",
            "Resource": f"{iam}:role/{APP_NAME}*-CiSetup-*",
        },
        {
            "Sid": "CustomResources",
            "Effect": "Allow",
            "Action": list(CUSTOM_RESOURCE_ACTIONS),
            "Resource": f"arn:{partition}:lambda:{config.region}:{account}:function:{APP_NAME}*",
        },
        {
            "Sid": "BootstrapVersion",
            "Effect": "Allow",
            "Action": "ssm:GetParameters",
            "Resource": (
                f"arn:{partition}:ssm:{config.region}:{account}:parameter/cdk-bootstrap/"
                f"{config.cdk_qualifier}/version"
            ),
        },
    ]
    return found


def documents(config: AppConfig, account: str, partition: str = "aws") -> list[dict[str, Any]]:
    """The statements packed into policy documents within IAM's size limit."""
    packed: list[list[dict[str, Any]]] = [[]]
    for statement in statements(config, account, partition):
        candidate = {"Version": "2012-10-17", "Statement": [*packed[-1], statement]}
        if packed[-1] and len(json.dumps(candidate, separators=(",", ":"))) > MAX_POLICY_CHARACTERS:
            packed.append([])
        packed[-1].append(statement)
    return [{"Version": "2012-10-17", "Statement": group} for group in packed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.bootstrap_policy", description=__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--account", required=True)
    parser.add_argument("--partition", default="aws")
    args, _ = parser.parse_known_args(argv)  # other cdk options (--profile) are not ours
    config = config_with_overrides(args.context)
    for document in documents(config, args.account, args.partition):
        print(json.dumps(document, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
