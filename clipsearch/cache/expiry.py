"""The cache expiry rule, as the S3 API takes it: the stack applies it (a bucket property, or the
lifecycle merge on an existing bucket) and the local system applies it to its bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clipsearch.layout import CACHE_PREFIX


@dataclass(frozen=True, kw_only=True)
class CacheExpiry:
    """The guide's rule `embeddings-cache-7d`, made to free space on versioned buckets too."""

    rule_id: str = "embeddings-cache-7d"
    prefix: str = CACHE_PREFIX
    expire_after_days: int = 7
    # Without these two, expiring a versioned object only hides it behind a delete marker,
    # and abandoned multipart uploads are billed forever.
    noncurrent_expire_after_days: int = 1
    abort_multipart_after_days: int = 1

    def as_s3_api_rule(self) -> dict[str, Any]:
        return {
            "ID": self.rule_id,
            "Status": "Enabled",
            "Filter": {"Prefix": self.prefix},
            "Expiration": {"Days": self.expire_after_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": self.noncurrent_expire_after_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": self.abort_multipart_after_days},
        }


GUIDE_EXPIRY = CacheExpiry()
