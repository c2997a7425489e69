"""Reading one image item's bytes: `s3://` (one bucket only), base64, data URI or {"b64": ...}."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.layout import parse_s3_uri
from clipsearch.runtime.errors import ItemError, ItemGone, ItemUnavailable
from clipsearch.runtime.faults import DENIED, describe, error_code, is_not_found


class ImageSource:
    def __init__(self, s3: Any, *, bucket: str, max_bytes: int) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.max_bytes = max_bytes

    def read(self, item: Any) -> bytes:
        if isinstance(item, dict):
            if set(item) != {"b64"} or not isinstance(item["b64"], str):
                raise ItemError('an image object must be {"b64": "<base64>"}')
            return _b64decode(item["b64"])
        if not isinstance(item, str):
            raise ItemError(
                f'an image item must be an s3:// URI, base64, a data URI or {{"b64": ...}}, '
                f"not {type(item).__name__}"
            )
        if item.startswith("s3://"):
            try:
                bucket, key = parse_s3_uri(item)
            except ValueError as error:
                raise ItemError(str(error)) from None
            if bucket != self.bucket:
                raise ItemError(f"bucket {bucket!r} is not allowed; this function reads s3://{self.bucket}/")
            return self.read_key(key)
        if item.startswith("data:"):
            header, _, data = item.partition(",")
            if not header.startswith("data:image/") or not header.endswith(";base64"):
                raise ItemError("a data URI must look like data:image/<type>;base64,<data>")
            return _b64decode(data)
        return _b64decode(item)

    def read_key(self, key: str) -> bytes:
        """The object's bytes. ItemGone when it does not exist, ItemUnavailable when S3 failed or
        denied access (a 403 is also what S3 answers for a missing key to a role without
        s3:ListBucket on it: the CLIP role), ItemError when it is over the size limit."""
        uri = f"s3://{self.bucket}/{key}"
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=key)
            with stored["Body"] as body:
                if stored["ContentLength"] > self.max_bytes:
                    raise ItemError(
                        f"{uri} is {stored['ContentLength']:,} bytes; the limit is {self.max_bytes:,}"
                    )
                return bytes(body.read())
        except ClientError as error:
            if is_not_found(error):
                raise ItemGone(f"{uri} does not exist") from None
            if error_code(error) in DENIED:
                raise ItemUnavailable(
                    f"{uri}: access denied (it does not exist, or this function may not read it)"
                ) from None
            raise ItemUnavailable(f"{uri}: S3 error {describe(error)}") from None
        except BotoCoreError as error:
            raise ItemUnavailable(f"{uri}: S3 unreachable ({error})") from None


def _b64decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ItemError("not valid base64 (expected base64 image data, a data URI or an s3:// URI)") from None
    if not data:
        raise ItemError("the image data is empty")
    return data
