"""cdk-nag acknowledgements: always one finding, on one construct, with its reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge `finding` (e.g. `AwsSolutions-IAM5[Resource::...]`) on `scope` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason))


def acknowledge_wildcard_resource(scope: IConstruct, arn: str, reason: str) -> None:
    """Acknowledge IAM5 for exactly one wildcard resource ARN (a token is fine) granted under `scope`."""
    resource = _nag_notation(Stack.of(scope).resolve(arn))
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def _nag_notation(value: Any) -> str:
    """Render a resolved CloudFormation value the way cdk-nag names it in findings."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_nag_notation(part) for part in parts)
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise ValueError(f"no cdk-nag notation for {value!r}")
