"""Write deployment/bootstrap_actions.json: for each resource type the stacks deploy, the permissions
CloudFormation's handlers need to create, read, update and delete it (the resource schemas' own
lists, as cfn-lint ships them). The bootstrap's execution policy grants exactly these.

    .venv/bin/python -m scripts.bootstrap_actions [TYPE ...]     (adds TYPEs to the file's)

tests/infra/test_bootstrap_policy.py fails when the stacks use a type the file lacks, or when the
file differs from what this writes (a CDK or cfn-lint bump changed what a handler needs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cfnlint.data.schemas

ACTIONS_FILE = Path(__file__).resolve().parent.parent / "deployment" / "bootstrap_actions.json"
HANDLERS = ("create", "read", "update", "delete")


def handler_permissions(resource_type: str, region: str = "us-east-1") -> list[str]:
    """What CloudFormation's handlers of `resource_type` need (cfn-lint's copy of its schema)."""
    schemas = Path(cfnlint.data.schemas.__file__).parent
    index = json.loads((schemas / "providers" / f"{region}.json").read_text())
    schema = json.loads((schemas / "resources" / f"{index[resource_type]}.json").read_text())
    handlers = schema.get("handlers", {})
    return sorted({action for name in HANDLERS for action in handlers.get(name, {}).get("permissions", [])})


def generate(types: list[str]) -> dict[str, list[str]]:
    return {resource_type: handler_permissions(resource_type) for resource_type in sorted(set(types))}


def main(argv: list[str]) -> None:
    known = list(json.loads(ACTIONS_FILE.read_text())) if ACTIONS_FILE.exists() else []
    ACTIONS_FILE.write_text(json.dumps(generate([*known, *argv]), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
