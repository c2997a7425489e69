"""The extraction function's writes to the `videos` table: one row per uploaded video, moved
`processing` -> `processed` (or `failed` with `error`) as the upstream extractor does, with the
bookkeeping of a video extracted in ranges side by side. Every write is conditional on the row
still being the same upload's (`upload_etag`), so a run for a superseded or deleted video never
brings it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from clipsearch.catalog.schema import FAILED, PROCESSED, PROCESSING, REMOVING
from clipsearch.layout import frames_prefix
from clipsearch.runtime.faults import error_code

# The ranges' bookkeeping, removed when the video is complete.
_RANGES, _RANGES_DONE, _RANGE_CUTS = "extract_ranges", "extract_ranges_done", "extract_range_cuts"
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize

Claim = Literal["claimed", "done", "busy"]


@dataclass(frozen=True)
class RangesDone:
    """A range recorded: whether it was the last one, and then every range's cuts, in order."""

    all_done: bool
    cut_frames: list[int]


def _number(value: float | int) -> Decimal:
    """A DynamoDB number: exact for ints, at most 12 significant digits for floats (29.97002997)."""
    return Decimal(value) if isinstance(value, int) else Decimal(f"{value:.12g}")


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: _serialize(_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for name, v in values.items()
    }


class VideoRows:
    def __init__(self, dynamodb: Any, table: str, *, key_index: str | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.key_index = key_index  # a GSI on original_key (the stack's table has one); None: Scan

    def claim(
        self,
        video_id: str,
        *,
        original_key: str,
        upload_etag: str,
        upload_size: int,
        now: float,
        stale_s: float,
    ) -> Claim:
        """Start the video: a new row `processing`, a `processing` row whose run started more than
        `stale_s` ago (it died; its retry or a duplicate event takes over), or a `removing` row (the
        same file put back while its removal was unfinished). `done`: the row is already
        `processed` or `failed`; `busy`: another run is on it now."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                UpdateExpression=(
                    "SET #status = :processing, frames_prefix = :prefix, original_key = :key, "
                    "upload_etag = :etag, upload_size = :size, processing_started_at = :now "
                    f"REMOVE #error, processing_finished_at, {_RANGES}, {_RANGES_DONE}, {_RANGE_CUTS}"
                ),
                ConditionExpression=(
                    "attribute_not_exists(video_id) OR #status = :removing "
                    "OR (#status = :processing AND processing_started_at < :stale)"
                ),
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=_values(
                    {
                        ":processing": PROCESSING,
                        ":removing": REMOVING,
                        ":prefix": frames_prefix(video_id),
                        ":key": original_key,
                        ":etag": upload_etag,
                        ":size": upload_size,
                        ":now": int(now),
                        ":stale": int(now - stale_s),
                    }
                ),
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            row = self.get(video_id)
            return "busy" if row is not None and row.get("status") == PROCESSING else "done"
        return "claimed"

    def release(self, video_id: str, *, upload_etag: str) -> None:
        """Let go of a claim this run cannot finish (its retry claims again at once)."""
        self._update(video_id, upload_etag, "SET processing_started_at = :zero", {":zero": 0})

    def get(self, video_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"video_id": {"S": video_id}}, ConsistentRead=True
        )
        return {k: _deserialize(v) for k, v in item["Item"].items()} if "Item" in item else None

    def split(self, video_id: str, *, upload_etag: str, ranges: int) -> bool:
        """Record that the video is extracted as `ranges` ranges; False when the row is no longer
        this upload's."""
        return self._update(
            video_id,
            upload_etag,
            f"SET {_RANGES} = :ranges, {_RANGE_CUTS} = :empty REMOVE {_RANGES_DONE}",
            {":ranges": ranges, ":empty": {}},
        )

    def range_done(
        self, video_id: str, *, upload_etag: str, index: int, cut_frames: list[int]
    ) -> RangesDone | None:
        """Record range `index` done with its cuts (a retried range records the same again); None
        when the row is no longer this upload's, or no longer `processing`."""
        try:
            answer = self.dynamodb.update_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                UpdateExpression=f"SET {_RANGE_CUTS}.#range = :cuts ADD {_RANGES_DONE} :done",
                ConditionExpression="#status = :processing AND upload_etag = :etag",
                ExpressionAttributeNames={"#status": "status", "#range": str(index)},
                ExpressionAttributeValues=_values(
                    {
                        ":cuts": cut_frames,
                        ":done": {_number(index)},
                        ":processing": PROCESSING,
                        ":etag": upload_etag,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        row = {k: _deserialize(v) for k, v in answer["Attributes"].items()}
        done, total = row.get(_RANGES_DONE, set()), int(row.get(_RANGES, 0))
        if len(done) < total:
            return RangesDone(False, [])
        cuts = row.get(_RANGE_CUTS, {})
        merged = sorted({int(cut) for key in sorted(cuts, key=int) for cut in cuts[key]})
        return RangesDone(True, merged)

    def complete(self, video_id: str, *, upload_etag: str, fields: Mapping[str, Any]) -> bool:
        """`processed` with `fields` (the upstream's: frames_count, total_frames, video_fps, ...), once:
        False when the row is no longer this upload's or no longer `processing`."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        assignments = ", ".join(f"{name} = {value}" for name, value in zip(names, values, strict=True))
        return self._update(
            video_id,
            upload_etag,
            f"SET #status = :processed, {assignments} REMOVE {_RANGES}, {_RANGES_DONE}, {_RANGE_CUTS}",
            {":processed": PROCESSED, **values},
            names,
        )

    def fail(self, video_id: str, *, upload_etag: str, error: str, now: float) -> bool:
        """`failed` with `error` (what is wrong with the file, for a person)."""
        return self._update(
            video_id,
            upload_etag,
            f"SET #status = :failed, #error = :error, processing_finished_at = :now "
            f"REMOVE {_RANGES}, {_RANGES_DONE}, {_RANGE_CUTS}",
            {":failed": FAILED, ":error": error[:1000], ":now": int(now)},
            {"#error": "error"},
        )

    def mark_removing(self, video_id: str) -> None:
        """Take the video out of every search before its frames, cache and index entries go; its
        row stays until they are gone, so that a retry of an unfinished removal still finds it."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                UpdateExpression="SET #status = :removing",
                ConditionExpression="attribute_exists(video_id)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":removing": {"S": REMOVING}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def delete(self, video_id: str) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key={"video_id": {"S": video_id}})

    def videos_of_upload(self, original_key: str) -> list[str]:
        """Every video made from this upload key (each version is one): a Query of the key index,
        or without one a Scan (its cost grows with the table)."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "ExpressionAttributeValues": {":key": {"S": original_key}},
            "ProjectionExpression": "video_id",
        }
        if self.key_index:
            operation = "query"
            arguments |= {"IndexName": self.key_index, "KeyConditionExpression": "original_key = :key"}
        else:
            operation = "scan"
            arguments |= {"FilterExpression": "original_key = :key", "ConsistentRead": True}
        found = []
        for page in self.dynamodb.get_paginator(operation).paginate(**arguments):
            found += [item["video_id"]["S"] for item in page.get("Items", [])]
        return sorted(set(found))

    def _update(
        self,
        video_id: str,
        upload_etag: str,
        expression: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
    ) -> bool:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                UpdateExpression=expression,
                ConditionExpression="#status = :processing AND upload_etag = :etag",
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=_values(
                    {**values, ":processing": PROCESSING, ":etag": upload_etag}
                ),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True
