"""Function settings from the environment, read once per container and validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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


INDEX_BACKENDS = ("memory", "s3vectors")


@dataclass(frozen=True)
class IndexBackend:
    """Where search finds the frames' vectors: `memory` (each search container loads the packed
    objects) or `s3vectors` (an S3 Vectors index; batch writes it too)."""

    name: str = "memory"
    vector_bucket: str | None = None
    vector_index: str | None = None
    dimension: int = 0  # the index's (s3vectors)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IndexBackend:
        name = env.get("INDEX_BACKEND", "memory")
        if name not in INDEX_BACKENDS:
            raise ValueError(f"INDEX_BACKEND must be one of {', '.join(INDEX_BACKENDS)}, got {name!r}")
        if name == "memory":
            return cls()
        dimension = required(env, "VECTOR_DIMENSION", "the S3 Vectors index's dimension")
        if not dimension.isdigit() or int(dimension) < 1:
            raise ValueError(f"VECTOR_DIMENSION must be a whole number of at least 1, got {dimension!r}")
        return cls(
            name,
            required(env, "VECTOR_BUCKET_NAME", "the S3 Vectors bucket of the index"),
            required(env, "VECTOR_INDEX_NAME", "the S3 Vectors index of the frames' vectors"),
            int(dimension),
        )
