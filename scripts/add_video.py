"""`make add-video FILE=holiday.mp4`: upload a video file and follow it until it is searchable.

    python -m scripts.add_video FILE [--key uploads/NAME] [--query TEXT]            (the local system)
    python -m scripts.add_video FILE --aws [-c key=value ...]                 (a deployed stack: AWS=1)

The file goes under uploads/ (its name, unless --key says otherwise), exactly as the page's upload
does; S3's notification starts the extraction by itself. Locally the whole system runs for the
length of the command (moto, the functions, the queues) and the video is searched once it is
embedded; against AWS the command waits for the row to be `processed` (or `failed`, with the
reason) and for its embeddings, reading the table and the bucket with your credentials.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from clipsearch.catalog.rows import VideoRows
from clipsearch.catalog.schema import ORIGINAL_KEY_INDEX
from clipsearch.layout import UPLOADS_PREFIX, packed_key, upload_video_id
from deployment.context import config_with_overrides

POLL_S = 3.0
WAIT_S = 30 * 60  # an hour of video extracts and embeds well within this (docs/developers/benchmarks.md)


class Progress:
    """boto3's upload callback: a progress bar on one line."""

    def __init__(self, size: int, out: TextIO) -> None:
        self.size, self.done, self.out = size, 0, out

    def __call__(self, sent: int) -> None:
        self.done += sent
        bar = "#" * (30 * self.done // max(1, self.size))
        print(f"\rupload {self.done:,}/{self.size:,} bytes [{bar:<30}]", end="", file=self.out, flush=True)


def upload(s3: Any, bucket: str, key: str, path: Path, out: TextIO) -> str:
    """Upload the file (multipart when large, as boto3 does); its ETag."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"  # a browser plays it
    s3.upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs={"ContentType": content_type},
        Callback=Progress(path.stat().st_size, out),
    )
    print(file=out)
    return str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')


def describe(row: dict[str, Any]) -> str:
    if row.get("status") == "failed":
        return f"failed: {row.get('error')}"
    if row.get("status") == "processed":
        return (
            f"processed: {int(row['frames_count'])} frames of {float(row['duration_seconds']):.1f} s, "
            f"{int(row.get('scenes_count', 1))} scenes"
        )
    return str(row.get("status", "waiting"))


def follow_on_aws(argv: argparse.Namespace, path: Path, key: str, out: TextIO) -> int:
    config = config_with_overrides(argv.context)
    session = boto3.session.Session(region_name=config.region)
    rows = VideoRows(
        session.client("dynamodb"),
        config.physical_table_name,
        key_index=ORIGINAL_KEY_INDEX if config.create_table else None,
    )
    account = session.client("sts").get_caller_identity()["Account"]  # the bucket's name carries it
    return follow(session.client("s3"), config.physical_bucket_name(account), rows, path, key, out)


def follow(s3: Any, bucket: str, rows: VideoRows, path: Path, key: str, out: TextIO) -> int:
    """Upload, then wait for the row to be processed (or failed) and its vectors packed."""
    etag = upload(s3, bucket, key, path, out)
    video_id = upload_video_id(bucket, key, etag)
    print(f"s3://{bucket}/{key}: video {video_id}; S3 notifies the extraction function", file=out)
    deadline = time.monotonic() + WAIT_S
    last = ""
    while time.monotonic() < deadline:
        row = rows.get(video_id) or {}
        state = describe(row)
        if state != last:
            print(f"  {state}", file=out)
            last = state
        if row.get("status") == "failed":
            return 1
        if row.get("status") == "processed" and _packed(s3, bucket, video_id):
            print("  embedded: searchable (on the page, or search with its video_ids)", file=out)
            return 0
        time.sleep(POLL_S)
    print(f"not searchable after {WAIT_S} s: see the dashboard and the ingest queue", file=out)
    return 1


def _packed(s3: Any, bucket: str, video_id: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=packed_key(video_id))
    except ClientError:
        return False
    return True


def follow_locally(argv: argparse.Namespace, path: Path, key: str, out: TextIO) -> int:
    from local.models import choose_model
    from local.report import results_table
    from local.running import find_running
    from local.stack import local_system

    running = find_running()
    if running is not None:
        print(f"the local system make serve keeps up ({running.page_url})", file=out)
        rows = VideoRows(running.client("dynamodb"), running.table, key_index=ORIGINAL_KEY_INDEX)
        return follow(running.client("s3"), running.bucket, rows, path, key, out)
    model = choose_model()
    print(f"model: {model.note}", file=out)
    config = config_with_overrides(argv.context)
    with local_system(model.path, config=config) as system:
        etag = upload(system.s3, system.bucket, key, path, out)
        video_id = upload_video_id(system.bucket, key, etag)
        print(f"s3://{system.bucket}/{key} on the local system: video {video_id}", file=out)
        system.settle()
        row = VideoRows(system.dynamodb, system.table).get(video_id) or {}
        print(f"  {describe(row)}", file=out)
        if row.get("status") != "processed":
            return 1
        response = system.invoke("search", {"query": argv.query, "video_ids": [video_id], "top_k": 5})
        print(f'search "{argv.query}" in it:', file=out)
        print(results_table(json.loads(response["body"])), file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--key", help=f"the upload's key (default: {UPLOADS_PREFIX}<the file's name>)")
    parser.add_argument("--aws", action="store_true", help="upload to the deployed stack (your credentials)")
    parser.add_argument("--query", default="a man riding a bicycle", help="what to search for locally")
    parser.add_argument("-c", dest="context", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    key = args.key or f"{UPLOADS_PREFIX}{args.file.name}"
    if not key.startswith(UPLOADS_PREFIX):
        parser.error(f"--key must be under {UPLOADS_PREFIX}")
    if not args.aws:
        return follow_locally(args, args.file, key, out)
    try:
        return follow_on_aws(args, args.file, key, out)
    except (NoCredentialsError, NoRegionError):
        profile = os.environ.get("AWS_PROFILE")
        print(
            f"no AWS credentials{f' for profile {profile}' if profile else ''}: "
            "configure them (aws configure / aws sso login), or drop AWS=1 to use the local system",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
