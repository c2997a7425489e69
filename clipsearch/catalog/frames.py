"""The upstream `frames/` of a video as S3 lists it: every object under `frames/{video_id}/` with its
ETag, and one fingerprint of that listing, which the packed object and the index ledger keep so that
the sweep can tell whether `frames/` changed since a run saw it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from clipsearch.layout import frames_prefix


class FrameListing:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def etags(self, video_id: str) -> dict[str, str]:
        """key -> ETag of every object under `frames/{video_id}/` (one LIST page per 1,000)."""
        etags: dict[str, str] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=frames_prefix(video_id)):
            etags.update((entry["Key"], entry["ETag"]) for entry in page.get("Contents", []))
        return etags

    def fingerprint(self, video_id: str) -> str:
        return fingerprint(self.etags(video_id))


def fingerprint(etags: Mapping[str, str]) -> str:
    """One string that changes whenever an object under the prefix is added, removed or replaced."""
    return hashlib.sha256(json.dumps(sorted(etags.items())).encode()).hexdigest()
