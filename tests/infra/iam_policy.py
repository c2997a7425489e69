"""Read the functions' and services' IAM statements from a template in the symbolic notation of the
IAM page's deviation table (docs/operators/iam.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

ROLES = ("clip", "search", "batch", "extract")
# Roles of services acting for the stack (the IAM page's names -> the construct holding the role); they
# exist only with their feature: the pipe with a table stream, the schedule with sweep_schedule.
SERVICE_ROLES = {"pipe": "StreamPipeRole", "schedule": "SweepScheduleRole"}
# The existing table's stream of the existing-resources variant (tests/infra/conftest.py).
VIDEOS_STREAM_ARN = "arn:aws:dynamodb:ap-southeast-1:111122223333:table/videos/stream/2026-01-15T08:30:00.000"
# An existing vector index (create_vector_index=false), by its default names.
EXISTING_VECTOR_INDEX_ARN = (
    "arn:aws:s3vectors:ap-southeast-1:${AWS::AccountId}:bucket/clip-frame-vectors/index/frames"
)
# Queues by construct: the IAM page's names for them.
QUEUES = {
    "BatchFailuresQueue": "<batch failure queue>",
    "WorkQueue": "<work queue>",
    "WorkDeadLetterQueue": "<work dead-letter queue>",
    "IngestQueue": "<ingest queue>",
    "IngestDeadLetterQueue": "<ingest dead-letter queue>",
}
# The SSE-KMS key of the options variant (tests/infra/conftest.py OPTIONS).
BUCKET_KMS_KEY_ARN = "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Statement:
    actions: frozenset[str]
    resource: str
    condition: str = "—"

    def __str__(self) -> str:
        return f"{sorted(self.actions)} on {self.resource} if {self.condition}"


def _grant(actions: str, resource: str) -> Statement:
    return Statement(frozenset(actions.split()), resource)


LOGS = _grant("logs:CreateLogGroup logs:CreateLogStream logs:PutLogEvents", "<own log group>")
# The guide's Step 2, with logs scoped to the function's own log group instead of the account
# (the infrastructure issue allows this) and the CLIP function's real name.
GUIDE: dict[str, set[Statement]] = {
    "search": {
        _grant("s3:GetObject", "<bucket>/embeddings-cache/*"),
        _grant("dynamodb:GetItem dynamodb:Query dynamodb:Scan", "<videos table>"),
        _grant("lambda:InvokeFunction", "<clip function>"),
        LOGS,
    },
    "clip": {
        _grant("s3:GetObject", "<bucket>/frames/*"),
        _grant("s3:PutObject s3:PutObjectAcl", "<bucket>/embeddings-cache/*"),
        LOGS,
    },
}
GUIDE["batch"] = set(GUIDE["clip"])


DEVIATIONS_HEADING = "Deviations from the guide's policies"


def documented_deviations(page: Path, config: Mapping[str, Any]) -> dict[str, set[Statement]]:
    """Rows of the page's deviation table, in the section headed DEVIATIONS_HEADING:
    | role | `actions` | `resource` | condition | why |.

    The role cell names one or more roles (`clip, batch`), optionally followed by "if `key`": the row
    applies only when that configuration value is set (true or non-empty); by "if `key=value`": only
    when the value is that one; or by "if not `key`": only when it is not set.
    """
    text = page.read_text()
    section = text.split(f"# {DEVIATIONS_HEADING}\n", 1)[1].split("\n#", 1)[0]
    deviations: dict[str, set[Statement]] = {role: set() for role in (*ROLES, *SERVICE_ROLES)}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("Role", "") or set(cells[0]) <= {"-"}:
            continue
        roles, actions, resource, condition, why = cells
        assert why, f"deviation without a reason: {line}"
        roles, _, when = roles.partition(" if ")
        negated = when.startswith("not ")
        key, equals, value = when.removeprefix("not ").strip("`").partition("=")
        if when and (str(config[key]) == value if equals else bool(config[key])) == negated:
            continue
        statement = Statement(
            frozenset(re.findall(r"`([^`]+)`", actions)), resource.strip("`"), condition.strip("`")
        )
        for role in roles.split(","):
            deviations[role.strip()].add(statement)
    return deviations


class RoleReader:
    def __init__(self, template: Template) -> None:
        self.resources: dict[str, Any] = template.to_json()["Resources"]
        self.symbols = {}
        for logical_id, resource in self.resources.items():
            kind = resource["Type"]
            if kind == "AWS::S3::Bucket" and resource["Properties"].get("BucketName"):
                self.symbols[f"${{{logical_id}.Arn}}"] = "<bucket>"
            elif kind == "AWS::DynamoDB::Table":
                self.symbols[f"${{{logical_id}.Arn}}"] = "<videos table>"
                self.symbols[f"${{{logical_id}.StreamArn}}"] = "<videos table stream>"
            elif kind == "AWS::S3Vectors::Index":
                self.symbols[f"${{{logical_id}.IndexArn}}"] = "<vector index>"
            elif kind == "AWS::SQS::Queue":
                # CDK's logical id: the construct path, then an 8-character hash.
                self.symbols[f"${{{logical_id}.Arn}}"] = QUEUES[logical_id[:-8]]
        for role in ROLES:
            function = self.function_id(role)
            if function is not None:
                self.symbols[f"${{{function}.Arn}}"] = f"<{role} function>"
        # Imported bucket and table: ARNs built from names.
        self.symbols["arn:aws:s3:::totgo1"] = "<bucket>"
        self.symbols[BUCKET_KMS_KEY_ARN] = "<bucket key>"
        self.symbols[VIDEOS_STREAM_ARN] = "<videos table stream>"
        self.symbols["arn:aws:dynamodb:ap-southeast-1:${AWS::AccountId}:table/videos"] = "<videos table>"

    def function_id(self, role: str) -> str | None:
        """The function's logical id; None when the stack has no such function (extract, with
        frame_extraction off)."""
        prefix = f"{role.capitalize()}Function"
        found = [
            key
            for key, value in self.resources.items()
            if value["Type"] == "AWS::Lambda::Function" and key.startswith(prefix) and "Role" not in key
        ]
        assert len(found) <= 1, found
        return found[0] if found else None

    def service_role_id(self, role: str) -> str | None:
        """The logical id of a service role (`pipe`, `schedule`), None when the stack has none."""
        found = [
            key
            for key, value in self.resources.items()
            if value["Type"] == "AWS::IAM::Role" and key[:-8] == SERVICE_ROLES[role]
        ]
        return found[0] if found else None

    def statements(self, role: str) -> set[Statement]:
        if role in SERVICE_ROLES:
            role_id = self.service_role_id(role)
            if role_id is None:
                return set()
            log_group_id = None
        else:
            function_id = self.function_id(role)
            if function_id is None:
                return set()
            function = self.resources[function_id]
            role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
            log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        found: set[Statement] = set()
        for resource in self.resources.values():
            if (
                resource["Type"] != "AWS::IAM::Policy"
                or {"Ref": role_id} not in resource["Properties"]["Roles"]
            ):
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = statement["Action"]
                actions = frozenset([actions] if isinstance(actions, str) else actions)
                resources = statement["Resource"]
                for each in resources if isinstance(resources, list) else [resources]:
                    rendered = self.render(each)
                    if log_group_id:
                        rendered = rendered.replace(f"${{{log_group_id}.Arn}}", "<own log group>")
                    condition = (
                        json.dumps(statement["Condition"], sort_keys=True)
                        if "Condition" in statement
                        else "—"
                    )
                    found.add(Statement(actions, rendered, condition))
        assert not self.resources[role_id]["Properties"].get("ManagedPolicyArns"), f"{role}: managed policies"
        assert not self.resources[role_id]["Properties"].get("Policies"), f"{role}: inline policies"
        return found

    def render(self, value: Any) -> str:
        text = _flatten(value)
        for pattern, symbol in sorted(self.symbols.items(), key=lambda item: -len(item[0])):
            text = text.replace(pattern, symbol)
        return text


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flatten(part) for part in parts)
    if "Fn::GetAtt" in value:
        return "${{{}.{}}}".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"${{{value['Ref']}}}"
    raise AssertionError(f"unexpected intrinsic {value!r}")
