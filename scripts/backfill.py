"""`make backfill`: queue every processed video (or the ones named) for the batch function.

    python -m scripts.backfill [VIDEO_ID ...] [-c key=value ...]      (make backfill VIDEOS="a b")

The work queue's URL and the table come from the deployed service stack's outputs (the stack and
region from the validated configuration, `-c` overrides included), or from --queue-url/--table.
Idempotent: the FIFO queue drops a video sent again within 5 minutes, and the batch function
skips frames already cached. Prints a progress line and what it queued.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import boto3
from botocore.exceptions import NoCredentialsError, NoRegionError

from clipsearch.catalog.schema import PROCESSED
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from deployment.context import config_with_overrides

PAGE = 500  # videos sent between two progress lines


def processed_videos(dynamodb: Any, table: str) -> Iterator[str]:
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        FilterExpression="#status = :processed",
        ProjectionExpression="video_id",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":processed": {"S": PROCESSED}},
    ):
        yield from (item["video_id"]["S"] for item in page.get("Items", []))


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def backfill(queue: WorkQueue, video_ids: list[str], out: TextIO) -> list[str]:
    queued: list[str] = []
    for start in range(0, len(video_ids), PAGE):
        sent = queue.send([WorkItem(video_id) for video_id in video_ids[start : start + PAGE]])
        if sent.failed:
            item, reason = sent.failed[0]
            raise RuntimeError(f"SQS refused {len(sent.failed)} videos (first {item.video_id}: {reason})")
        queued += [item.video_id for item in sent.sent]
        done = min(start + PAGE, len(video_ids))
        bar = "#" * (30 * done // len(video_ids))
        print(f"\rqueued {done:,}/{len(video_ids):,} [{bar:<30}]", end="", file=out, flush=True)
    print(file=out)
    return sorted(queued)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", help="video ids (default: every processed video)")
    parser.add_argument("-c", dest="context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--queue-url", help="default: the service stack's WorkQueueUrl output")
    parser.add_argument("--table", help="default: the deployed videos table")
    args = parser.parse_args(argv)
    config = config_with_overrides(args.context)
    session = boto3.session.Session(region_name=config.region)
    outputs = (
        {} if args.queue_url else stack_outputs(session.client("cloudformation"), config.service_stack_name)
    )
    queue_url = args.queue_url or outputs["WorkQueueUrl"]
    table = args.table or config.physical_table_name
    videos = list(dict.fromkeys(args.videos)) or sorted(processed_videos(session.client("dynamodb"), table))
    if not videos:
        print(f"no processed videos in {table}: nothing to queue", file=out)
        return 0
    queued = backfill(WorkQueue(session.client("sqs"), queue_url), videos, out)
    print(
        f"queued {len(queued):,} videos for the batch function: {', '.join(queued[:10])}"
        + (f" and {len(queued) - 10:,} more" if len(queued) > 10 else ""),
        file=out,
    )
    return 0


def run(argv: list[str] | None = None) -> int:
    """main, with AWS's missing credentials said in one line (not botocore's traceback)."""
    try:
        return main(argv)
    except (NoCredentialsError, NoRegionError):
        print(
            "no AWS credentials: configure them (aws configure / aws sso login) to backfill the deployed "
            "stack; on the local system, make sweep queues what is not embedded",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(run())
