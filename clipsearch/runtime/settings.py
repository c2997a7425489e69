"""Function settings from the environment, read once per container and validated."""

from __future__ import annotations

from collections.abc import Mapping


def required(env: Mapping[str, str], variable: str, meaning: str) -> str:
    if not env.get(variable):
        raise ValueError(f"{variable} is not set: {meaning}")
    return env[variable]


def positive_ints(env: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, int]:
    """{field: value} for each `variables[field]` present in `env`; ValueError naming a bad one."""
    values = {}
    for field, variable in variables.items():
        if variable in env:
            text = env[variable].strip()
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"{variable} must be a whole number of at least 1, got {env[variable]!r}")
            values[field] = int(text)
    return values
