"""An uploaded video read straight from S3 as a seekable file: ranged GETs of whole blocks, a few
blocks kept, each GET pinned to the ETag the run started from (`IfMatch`), so a file replaced
mid-run fails the run instead of mixing two versions. PyAV reads through it; nothing is copied to
/tmp, and a range of a long video reads only the blocks around its part."""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any

from botocore.exceptions import ClientError

from clipsearch.runtime.faults import CONDITION_FAILED, error_code

BLOCK_BYTES = 4 * 1024 * 1024  # one GET: large enough that request overhead is small
KEPT_BLOCKS = 8  # the moov box at the end of an MP4 and the data being decoded stay cached


class UploadChanged(Exception):
    """The object is no longer the version this run started from (replaced or deleted)."""


class S3File(io.RawIOBase):
    def __init__(self, s3: Any, *, bucket: str, key: str, etag: str, size: int) -> None:
        self.s3 = s3
        self.bucket, self.key, self.etag, self.size = bucket, key, etag, size
        self._position = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.requests = 0  # GETs made (the bench and the tests count them)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self.size - self._position))
        done = 0
        while done < wanted:
            number, offset = divmod(self._position, BLOCK_BYTES)
            block = self._block(number)
            chunk = block[offset : offset + wanted - done]
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._position += len(chunk)
        return done

    def _block(self, number: int) -> bytes:
        if number in self._blocks:
            self._blocks.move_to_end(number)
            return self._blocks[number]
        start = number * BLOCK_BYTES
        end = min(self.size, start + BLOCK_BYTES) - 1
        try:
            answer = self.s3.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end}", IfMatch=self.etag
            )
        except ClientError as error:
            if error_code(error) in CONDITION_FAILED or error_code(error) in ("NoSuchKey", "404"):
                raise UploadChanged(f"s3://{self.bucket}/{self.key} changed since this run started") from None
            raise
        self.requests += 1
        data = bytes(answer["Body"].read())
        self._blocks[number] = data
        if len(self._blocks) > KEPT_BLOCKS:
            self._blocks.popitem(last=False)
        return data
