"""The upload routes: `POST /uploads` answers a presigned POST for one video file, limited in size
and content type, under the caller's own folder of `uploads/`; `GET /uploads?key=...` says what
became of an upload (waiting, processing, processed, failed with the reason).

The browser then sends the file straight to S3 (never through API Gateway and Lambda, whose
payloads stop at 10 and 6 MB); S3's notification starts the extraction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from clipsearch.catalog.rows import VideoRows
from clipsearch.extract.routes import ROUTES, UPLOAD, UPLOAD_STATUS
from clipsearch.layout import UPLOADS_PREFIX
from clipsearch.runtime.errors import RequestError, bad_request
from clipsearch.runtime.events import parse_request, response
from clipsearch.runtime.faults import is_not_found

# The containers the extractor reads (clipsearch/extract/media.py VIDEO_CONTAINERS), by what a
# browser calls them.
CONTENT_TYPES = {
    "video/mp4": (".mp4", ".m4v"),
    "video/quicktime": (".mov",),
    "video/webm": (".webm",),
    "video/x-matroska": (".mkv",),
    "video/mp2t": (".ts",),
}
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadForm:
    key: str
    url: str
    fields: dict[str, str]
    expires_s: int
    max_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "url": self.url,
            "fields": self.fields,
            "expires_s": self.expires_s,
            "max_bytes": self.max_bytes,
        }


def safe_name(name: str, content_type: str) -> str:
    """The file's name as a key part: letters, digits, `.`, `_`, `-` (others become `-`), the
    extension one of the content type's."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem, dot, extension = base.rpartition(".")
    extension = f".{extension.lower()}" if dot else ""
    if extension not in CONTENT_TYPES[content_type]:
        raise bad_request(
            f"a {content_type} file must end in {' or '.join(CONTENT_TYPES[content_type])}, got {name!r}"
        )
    cleaned = _UNSAFE.sub("-", stem).strip("-.") or "video"
    return cleaned[: MAX_NAME_CHARS - len(extension)] + extension


def owner_folder(subject: str) -> str:
    """The caller's folder under uploads/page/: a hash of the token's subject (no email in keys)."""
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


class Uploads:
    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        rows: VideoRows,
        max_bytes: int,
        expires_s: int = 900,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.rows = rows
        self.max_bytes = max_bytes
        self.expires_s = expires_s

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        method = str(event["requestContext"]["http"].get("method", "")).upper()
        path = str(event["rawPath"]).rstrip("/") or "/"
        claims = event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims", {})
        if (method, path) == UPLOAD:
            return response(200, self.form(parse_request(event), str(claims.get("sub", ""))).as_dict())
        if (method, path) == UPLOAD_STATUS:
            return response(200, self.status((event.get("queryStringParameters") or {}).get("key")))
        allowed = [m for m, p in ROUTES if p == path]
        if allowed:
            raise RequestError(405, f"{method} {path} is not allowed; use {' or '.join(allowed)}")
        raise RequestError(404, f"no route {method} {path}; this function has POST and GET /uploads")

    def form(self, request: dict[str, Any], subject: str) -> UploadForm:
        """A presigned POST for the file `request` describes: {"name", "size", "content_type"}."""
        unknown = sorted(set(request) - {"name", "size", "content_type"})
        if unknown:
            raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: name, size, content_type")
        name, size, content_type = request.get("name"), request.get("size"), request.get("content_type")
        if content_type not in CONTENT_TYPES:
            raise bad_request(f"content_type must be one of {', '.join(CONTENT_TYPES)}, got {content_type!r}")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name must be the file's name, e.g. holiday.mp4")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= self.max_bytes:
            raise bad_request(
                f"size must be the file's size in bytes, from 1 to {self.max_bytes:,}, got {size!r}"
            )
        if not subject:
            raise RequestError(403, "the token names no subject: uploads go to the caller's own folder")
        key = f"{UPLOADS_PREFIX}page/{owner_folder(subject)}/{safe_name(name, content_type)}"
        post = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, self.max_bytes]],
            ExpiresIn=self.expires_s,
        )
        return UploadForm(key, post["url"], dict(post["fields"]), self.expires_s, self.max_bytes)

    def status(self, key: Any) -> dict[str, Any]:
        """The newest video of the upload: `waiting` (in S3, not started), `processing`,
        `processed` (searchable once embedded) or `failed` with the reason."""
        if not isinstance(key, str) or not key.startswith(UPLOADS_PREFIX):
            raise bad_request(f"key must be an upload key under {UPLOADS_PREFIX}")
        rows = [
            row for row in (self.rows.get(video_id) for video_id in self.rows.videos_of_upload(key)) if row
        ]
        if rows:
            row = max(rows, key=lambda row: int(row.get("processing_started_at", 0)))
            return {
                "key": key,
                "video_id": row["video_id"],
                "status": row.get("status"),
                "frames": int(row["frames_count"]) if "frames_count" in row else None,
                "duration_s": float(row["duration_seconds"]) if "duration_seconds" in row else None,
                "error": row.get("error"),
            }
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                raise RequestError(404, f"no upload {key}") from None
            raise
        return {
            "key": key,
            "video_id": None,
            "status": "waiting",
            "frames": None,
            "duration_s": None,
            "error": None,
        }
