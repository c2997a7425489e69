"""What the extraction function is asked: S3's event notifications for `uploads/` (on the ingest
queue), a range of a long video (also on the ingest queue), or a direct invoke naming an upload."""

from __future__ import annotations

import urllib.parse
from typing import Any

from clipsearch.extract.service import RangeWork, UploadChange
from clipsearch.layout import UPLOADS_PREFIX
from clipsearch.runtime.errors import bad_request

Work = UploadChange | RangeWork


def work_of(message: Any, *, bucket: str) -> list[Work]:
    """The work one message (or direct invoke) asks for; RequestError(400) when it is none of the
    shapes. S3's test event (sent when a notification is configured) asks for nothing."""
    if not isinstance(message, dict):
        raise bad_request(f"a message must be a JSON object, not {type(message).__name__}")
    if message.get("Event") == "s3:TestEvent":
        return []
    if "Records" in message:
        return [_record(record, bucket) for record in _records(message["Records"])]
    if "extract_range" in message:
        return [_range(message["extract_range"])]
    if set(message) == {"key"} and isinstance(message["key"], str):
        if not message["key"].startswith(UPLOADS_PREFIX):
            raise bad_request(f"key must be an upload under {UPLOADS_PREFIX}, got {message['key']!r}")
        return [UploadChange("created", message["key"])]  # whatever version is there now
    raise bad_request('expected an S3 event notification, {"extract_range": {...}} or {"key": "uploads/..."}')


def _records(records: Any) -> list[dict[str, Any]]:
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise bad_request("Records must be a list of S3 event records")
    return records


def _record(record: dict[str, Any], bucket: str) -> UploadChange:
    """One S3 event record: the object's key arrives URL-encoded (spaces as '+')."""
    name = str(record.get("eventName", ""))
    s3 = _object(record.get("s3"))
    found = _object(s3.get("bucket")).get("name")
    obj = _object(s3.get("object"))
    if record.get("eventSource") != "aws:s3" or not isinstance(obj.get("key"), str):
        raise bad_request("an S3 event record needs eventSource aws:s3 and s3.object.key")
    if found != bucket:
        raise bad_request(f"an event of bucket {found!r}; this function extracts from {bucket!r}")
    key = urllib.parse.unquote_plus(obj["key"])
    if name.startswith("ObjectCreated:"):
        etag = obj.get("eTag")
        return UploadChange("created", key, etag.strip('"') if isinstance(etag, str) and etag else None)
    if name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        return UploadChange("removed", key)
    raise bad_request(f"event {name!r} is not one this function acts on (ObjectCreated, ObjectRemoved)")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _range(value: Any) -> RangeWork:
    fields = RangeWork.__dataclass_fields__
    if not isinstance(value, dict) or set(value) != set(fields):
        raise bad_request(f"extract_range must hold exactly {', '.join(fields)}")
    try:
        work = RangeWork(**value)
    except TypeError as error:
        raise bad_request(f"extract_range: {error}") from None
    ints = (work.index, work.start, work.stop, work.max_frames)
    if (
        not all(isinstance(n, int) and not isinstance(n, bool) for n in ints)
        or not 0 <= work.start < work.stop
    ):
        raise bad_request("extract_range: index, start < stop and max_frames must be whole numbers")
    if not work.key.startswith(UPLOADS_PREFIX) or not isinstance(work.extract_fps, (int, float)):
        raise bad_request("extract_range: key must be an upload and extract_fps a number")
    return work
