"""Ingestion: how long search's refill holds a search that finds 3,000 missing videos, through the
work queue (SendMessageBatch, 10 a call, parallel) against one asynchronous Invoke per video (the
previous refill), and the enqueue rate of a 10,000-video backfill, in one run, as ratios.

Both paths use real boto3 clients; a `before-send` hook answers each HTTP request in place of AWS
after a fixed round trip (--rtt-ms, the same for both services), so the numbers are the client's:
calls made, how many at once, and our own code.

    .venv/bin/python -m bench.bench_ingest [--missing 3000] [--backfill 10000] [--rtt-ms 20]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from clipsearch.work.refill import RecentlyQueued, Refill

REGION = "us-east-1"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/work.fifo"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def answering(client: Any, rtt_s: float, answer: Any) -> Any:
    """`client` whose every request takes `rtt_s` and gets `answer(request) -> (status, body)`."""

    def respond(request: Any, **_: Any) -> AWSResponse:
        time.sleep(rtt_s)
        status, body = answer(request)
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send", respond)
    return client


def sqs_client(rtt_s: float) -> Any:
    def send_batch(request: Any) -> tuple[int, bytes]:
        entries = json.loads(request.body)["Entries"]
        ok = [
            {"Id": e["Id"], "MessageId": e["Id"], "MD5OfMessageBody": "x", "SequenceNumber": "1"}
            for e in entries
        ]
        return 200, json.dumps({"Successful": ok, "Failed": []}).encode()

    client = boto3.client("sqs", region_name=REGION, aws_access_key_id="b", aws_secret_access_key="b")
    return answering(client, rtt_s, send_batch)


def lambda_client(rtt_s: float) -> Any:
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="b", aws_secret_access_key="b")
    return answering(client, rtt_s, lambda request: (202, b""))


def invoke_each(client: Any, video_ids: list[str]) -> None:
    """The refill before the work queue: one asynchronous Invoke of the batch function per video."""
    for video_id in video_ids:
        client.invoke(
            FunctionName="clip-batch-embed",
            InvocationType="Event",
            Payload=json.dumps({"video_id": video_id}),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", type=int, default=3000)
    parser.add_argument("--backfill", type=int, default=10_000)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    args = parser.parse_args()
    rtt = args.rtt_ms / 1000
    missing = [f"video-{i:06d}" for i in range(args.missing)]
    wanted = [WorkItem(video_id, seen="none") for video_id in missing]

    started = time.perf_counter()
    invoke_each(lambda_client(rtt), missing)
    invoke_s = time.perf_counter() - started

    refill = Refill(WorkQueue(sqs_client(rtt), QUEUE_URL), RecentlyQueued(900), budget_s=10**6)
    started = time.perf_counter()
    queued = refill.queue_videos(wanted)
    queue_s = time.perf_counter() - started
    if len(queued) != len(missing):
        raise RuntimeError(f"queued {len(queued)} of {len(missing)}")
    budgeted = Refill(WorkQueue(sqs_client(rtt), QUEUE_URL), RecentlyQueued(900))  # the search's 0.3 s
    started = time.perf_counter()
    in_budget = budgeted.queue_videos(wanted)
    budget_s = time.perf_counter() - started

    print(f"refill of {args.missing:,} missing videos, {args.rtt_ms:.0f} ms per request")
    print(f"one Invoke per video   {invoke_s:8.2f} s")
    print(f"work queue (all)       {queue_s:8.2f} s   {invoke_s / queue_s:6.0f}x faster")
    later = "the rest by later searches"
    print(f"work queue (0.3 s cap) {budget_s:8.2f} s   queued {len(in_budget):,} now, {later}")

    videos = [WorkItem(f"video-{i:06d}") for i in range(args.backfill)]
    started = time.perf_counter()
    sent = WorkQueue(sqs_client(rtt), QUEUE_URL).send(videos)
    backfill_s = time.perf_counter() - started
    rate = len(sent.sent) / backfill_s
    print(f"\nbackfill of {args.backfill:,} videos: {rate:,.0f} videos/s ({backfill_s:.1f} s)")


if __name__ == "__main__":
    main()
