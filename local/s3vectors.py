"""QueryVectors for moto's S3 Vectors, with AWS's semantics, and the limits moto does not check.

moto 5.2.5 stores vector buckets, indexes and vectors but has no QueryVectors, does not keep an
index's non-filterable metadata keys, and takes any number of vectors per PutVectors. `install()`
adds those to moto itself (its in-process mock and its server alike), so that clients reach them
through `AWS_ENDPOINT_URL_S3VECTORS` like every other service and handlers need no local branch.

What is emulated (AWS's S3 Vectors documentation; tests/local/test_s3vectors.py pins each):
- QueryVectors: `topK` 1-100; `queryVector` `{"float32": [...]}` of the index's dimension, finite
  numbers; exact search (AWS's is approximate: the emulation returns what a perfect index would);
  `distance` is the cosine distance (1 - cosine) or the euclidean distance, in float32; nearest
  first, equal distances by key; `metadata` and `distance` only when asked for.
- Filters: `{"key": value}` (equality) and the operators `$eq $ne $gt $gte $lt $lte $in $nin
  $exists $and $or`; a key that is missing from a vector never matches a comparison; filtering on a
  non-filterable key, an unknown operator or a malformed filter is a ValidationException.
- PutVectors: 1-500 vectors, float32 data of the index's dimension, finite numbers, keys of at
  most 1,024 characters, filterable metadata of at most 2 KB (as JSON); GetVectors 1-100 keys,
  DeleteVectors 1-500. QueryVectors returns one page (no `nextToken`); `queryMode` is taken and the
  filter is always applied before the search (what ENHANCED does).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from moto.core.responses import ActionResult
from moto.s3vectors import urls
from moto.s3vectors.exceptions import ValidationError
from moto.s3vectors.models import Index
from moto.s3vectors.responses import S3VectorsResponse

from clipsearch.index.limits import (
    DATA_TYPE,
    DISTANCE_METRIC,
    GET_BATCH,
    MAX_FILTERABLE_METADATA_BYTES,
    MAX_KEY_LENGTH,
    MAX_TOP_K,
    WRITE_BATCH,
)
from clipsearch.layout import INDEX_NON_FILTERABLE_KEYS

_COMPARISONS = {
    "$gt": lambda stored, value: stored > value,
    "$gte": lambda stored, value: stored >= value,
    "$lt": lambda stored, value: stored < value,
    "$lte": lambda stored, value: stored <= value,
}
_NON_FILTERABLE = "_emulated_non_filterable_keys"  # set on moto's Index by create_index


def install() -> None:
    """Add QueryVectors and the limits to moto (idempotent)."""
    if getattr(S3VectorsResponse, "_emulated", False):
        return
    urls.url_paths["{0}/QueryVectors$"] = S3VectorsResponse.dispatch
    create_index, put_vectors = S3VectorsResponse.create_index, S3VectorsResponse.put_vectors
    get_vectors, delete_vectors = S3VectorsResponse.get_vectors, S3VectorsResponse.delete_vectors

    def create_index_keeping_metadata_configuration(self: S3VectorsResponse) -> Any:
        answer = create_index(self)
        index = self.s3vectors_backend.get_index(
            self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
        )
        configuration = self._get_param("metadataConfiguration") or {}
        setattr(index, _NON_FILTERABLE, frozenset(configuration.get("nonFilterableMetadataKeys", ())))
        return answer

    def put_vectors_within_limits(self: S3VectorsResponse) -> Any:
        vectors = self._get_param("vectors") or []
        if not 1 <= len(vectors) <= WRITE_BATCH:
            raise ValidationError(f"vectors must hold 1 to {WRITE_BATCH} vectors, got {len(vectors)}")
        index = self.s3vectors_backend.get_index(
            self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
        )
        non_filterable: frozenset[str] = getattr(index, _NON_FILTERABLE, frozenset())
        for vector in vectors:
            key = str(vector.get("key", ""))
            if not 1 <= len(key) <= MAX_KEY_LENGTH:
                raise ValidationError(f"a key must have 1 to {MAX_KEY_LENGTH} characters, got {len(key)}")
            _float32(vector.get("data"), f"vector {key!r}")
            filterable = {k: v for k, v in (vector.get("metadata") or {}).items() if k not in non_filterable}
            size = len(json.dumps(filterable, separators=(",", ":")).encode())
            if size > (limit := MAX_FILTERABLE_METADATA_BYTES):
                raise ValidationError(
                    f"vector {key!r}: filterable metadata of {size} bytes (at most {limit})"
                )
        return put_vectors(self)

    def within(limit: int, call: Any) -> Any:
        def checked(self: S3VectorsResponse) -> Any:
            keys = self._get_param("keys") or []
            if not 1 <= len(keys) <= limit:
                raise ValidationError(f"keys must hold 1 to {limit} keys, got {len(keys)}")
            return call(self)

        return checked

    S3VectorsResponse.create_index = create_index_keeping_metadata_configuration  # type: ignore[method-assign]
    S3VectorsResponse.put_vectors = put_vectors_within_limits  # type: ignore[method-assign]
    S3VectorsResponse.get_vectors = within(GET_BATCH, get_vectors)  # type: ignore[method-assign]
    S3VectorsResponse.delete_vectors = within(WRITE_BATCH, delete_vectors)  # type: ignore[method-assign]
    S3VectorsResponse.query_vectors = _query_vectors  # type: ignore[attr-defined]
    S3VectorsResponse._emulated = True  # type: ignore[attr-defined]


def create_index_as_the_stack_does(client: Any, *, bucket: str, index: str, dimension: int) -> None:
    """A vector bucket and its index as stacks/components/vector_index.py makes them."""
    client.create_vector_bucket(vectorBucketName=bucket)
    client.create_index(
        vectorBucketName=bucket,
        indexName=index,
        dataType=DATA_TYPE,
        dimension=dimension,
        distanceMetric=DISTANCE_METRIC,
        metadataConfiguration={"nonFilterableMetadataKeys": list(INDEX_NON_FILTERABLE_KEYS)},
    )


def _query_vectors(self: S3VectorsResponse) -> ActionResult:
    index = self.s3vectors_backend.get_index(
        self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn")
    )
    top_k = self._get_param("topK")
    if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationError(f"topK must be between 1 and {MAX_TOP_K}, got {top_k!r}")
    query = _float32(self._get_param("queryVector"), "queryVector")
    if len(query) != index.dimension:
        raise ValidationError(
            f"Query vector has dimension {len(query)}, the index's dimension is {index.dimension}"
        )
    mode = self._get_param("queryMode")
    if mode not in (None, "CLASSIC", "ENHANCED"):
        raise ValidationError(f"queryMode must be CLASSIC or ENHANCED, got {mode!r}")
    condition = self._get_param("filter")
    if condition is not None:
        _check_filter(condition, getattr(index, _NON_FILTERABLE, frozenset()))
    matches = [
        v for v in index.vectors.values() if condition is None or _matches(v.metadata or {}, condition)
    ]
    distances = _distances(index, query, [np.asarray(v.data["float32"], np.float32) for v in matches])
    ranked = sorted(
        zip(distances, (v.key for v in matches), matches, strict=True), key=lambda t: (t[0], t[1])
    )
    want_metadata = self._get_bool_param("returnMetadata", False)
    want_distance = self._get_bool_param("returnDistance", False)
    found = []
    for distance, key, vector in ranked[:top_k]:
        item: dict[str, Any] = {"key": key}
        if want_metadata:
            item["metadata"] = vector.metadata or {}
        if want_distance:
            item["distance"] = float(distance)
        found.append(item)
    return ActionResult({"vectors": found, "distanceMetric": index.distance_metric})


def _float32(data: Any, what: str) -> np.ndarray:
    values = data.get("float32") if isinstance(data, dict) else None
    if not isinstance(values, list) or not values:
        raise ValidationError(f'{what} must be {{"float32": [numbers]}}')
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in values):
        raise ValidationError(f"{what} holds a value that is not a finite float32")
    return np.asarray(values, dtype=np.float32)


def _distances(index: Index, query: np.ndarray, rows: list[np.ndarray]) -> list[np.float32]:
    if not rows:
        return []
    matrix = np.stack(rows)
    if index.distance_metric == "euclidean":
        return list(np.linalg.norm(matrix - query, axis=1).astype(np.float32))
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    cosine = (matrix @ query) / np.where(norms == 0, 1, norms)
    return list((1 - cosine).astype(np.float32))


def _check_filter(condition: Any, non_filterable: frozenset[str]) -> None:
    if not isinstance(condition, dict) or not condition:
        raise ValidationError("a filter must be a non-empty JSON object")
    for key, value in condition.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise ValidationError(f"{key} takes a non-empty array of filters")
            for part in value:
                _check_filter(part, non_filterable)
        elif key.startswith("$"):
            raise ValidationError(f"unsupported filter operator {key}")
        elif key in non_filterable:
            raise ValidationError(f"metadata key {key!r} is non-filterable")
        elif isinstance(value, dict):
            for operator, operand in value.items():
                _check_operator(operator, operand)


def _check_operator(operator: str, operand: Any) -> None:
    if operator in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand:
            raise ValidationError(f"{operator} takes a non-empty array")
    elif operator in _COMPARISONS:
        if not isinstance(operand, (int, float)) or isinstance(operand, bool):
            raise ValidationError(f"{operator} takes a number")
    elif operator == "$exists":
        if not isinstance(operand, bool):
            raise ValidationError("$exists takes true or false")
    elif operator not in ("$eq", "$ne"):
        raise ValidationError(f"unsupported filter operator {operator}")


def _matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    for key, value in condition.items():
        if key == "$and":
            if not all(_matches(metadata, part) for part in value):
                return False
        elif key == "$or":
            if not any(_matches(metadata, part) for part in value):
                return False
        elif not _field_matches(metadata, key, value):
            return False
    return True


def _field_matches(metadata: dict[str, Any], key: str, value: Any) -> bool:
    present = key in metadata
    stored = metadata.get(key)
    if not isinstance(value, dict):
        value = {"$eq": value}
    for operator, operand in value.items():
        if operator == "$exists":
            ok = present == operand
        elif operator == "$ne":
            ok = not present or not _equals(stored, operand)
        elif operator == "$nin":
            ok = not present or not any(_equals(stored, item) for item in operand)
        elif not present:
            ok = False
        elif operator == "$eq":
            ok = _equals(stored, operand)
        elif operator == "$in":
            ok = any(_equals(stored, item) for item in operand)
        else:
            number = isinstance(stored, (int, float)) and not isinstance(stored, bool)
            ok = number and _COMPARISONS[operator](stored, operand)
        if not ok:
            return False
    return True


def _equals(stored: Any, operand: Any) -> bool:
    """Equality; against a list value, any element equal matches (AWS's rule for arrays)."""
    if isinstance(stored, list):
        return any(item == operand for item in stored)
    return bool(stored == operand)
