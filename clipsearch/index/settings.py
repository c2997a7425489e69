"""Which index backend a function searches or fills, from its environment (search and batch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clipsearch.runtime.settings import required

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
