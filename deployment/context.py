"""Reading the configuration as the CDK CLI sees it: cdk.json's context, `-c key=value` overrides,
and one error naming every bad key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deployment.config import AppConfig, ConfigError

# Keys that look like configuration but are refused, with what to do instead.
_REFUSED = {
    "stack_name": (
        "not a configuration key: the stacks are ClipFrameSearch[-<environment>], and a second copy is "
        "an environment (-c environment=<name>), which renames every physical name"
    ),
}


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
            if issue["type"] == "extra_forbidden" and key in _REFUSED:
                problems.append(f"{key}: {_REFUSED[key]}")
            elif issue["type"] == "extra_forbidden":
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
