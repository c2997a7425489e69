"""Ingestion: how long search's refill holds a search that finds 3,000 missing videos, through the
work queue (SendMessageBatch, 10 a call, parallel) against one asynchronous Invoke per video (the
previous refill), and the enqueue rate of a 10,000-video backfill, in one run, as ratios.

Both paths use real boto3 clients; a `before-send` hook answers each HTTP request in place of AWS
after a fixed round trip (--rtt-ms, the same for both services), so the numbers are the client's:
calls made, how many at once, and our own code.

Each round runs every path once, in rotating order (bench/side_by_side.py); the ratio is taken within
each round and reported as the median of the rounds with their range.

    .venv/bin/python -m bench.bench_ingest [--missing 3000] [--backfill 10000] [--rtt-ms 20] [--rounds 3]
        [--write]

`--write` keeps the table in bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from bench.side_by_side import in_rounds, median, per_pair, timed
from bench.tables import Table, document, write
from clipsearch.search.service import SearchSettings
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="keep the table in bench/results/ingest.md")
    args = parser.parse_args()
    rtt = args.rtt_ms / 1000
    missing = [f"video-{i:06d}" for i in range(args.missing)]
    wanted = [WorkItem(video_id, seen="none") for video_id in missing]
    budget_s = SearchSettings.refill_budget_ms / 1000  # the search's default
    queued_now: list[int] = []

    def refill_all() -> None:
        refill = Refill(WorkQueue(sqs_client(rtt), QUEUE_URL), RecentlyQueued(900), budget_s=10**6)
        if len(refill.queue_videos(wanted)) != len(missing):
            raise RuntimeError("the unbudgeted refill did not queue every missing video")

    def refill_in_budget() -> None:
        refill = Refill(WorkQueue(sqs_client(rtt), QUEUE_URL), RecentlyQueued(900), budget_s=budget_s)
        queued_now.append(len(refill.queue_videos(wanted)))

    def backfill() -> None:
        videos = [WorkItem(f"video-{i:06d}") for i in range(args.backfill)]
        if len(WorkQueue(sqs_client(rtt), QUEUE_URL).send(videos).sent) != args.backfill:
            raise RuntimeError("the backfill did not send every video")

    samples = in_rounds(
        {
            "invoke": lambda: timed(lambda: invoke_each(lambda_client(rtt), missing)),
            "queue": lambda: timed(refill_all),
            "budget": lambda: timed(refill_in_budget),
            "backfill": lambda: timed(backfill),
        },
        args.rounds,
    )
    walls = {name: [sample.wall for sample in runs] for name, runs in samples.items()}
    table = Table(
        f"Refill of {args.missing:,} missing videos and a backfill of {args.backfill:,}, "
        f"{args.rtt_ms:g} ms per request, {args.rounds} rounds",
        ["path", "seconds (median)", "against one Invoke per video (per round)", "note"],
        [
            [
                "one asynchronous Invoke per video (the refill before the work queue)",
                f"{median(walls['invoke']):.2f}",
                "1",
                "",
            ],
            [
                "the work queue, every missing video",
                f"{median(walls['queue']):.2f}",
                f"{per_pair(walls['invoke'], walls['queue'])} faster",
                "SendMessageBatch, 10 a call, parallel",
            ],
            [
                f"the work queue within the search's {budget_s:g} s budget",
                f"{median(walls['budget']):.2f}",
                "",
                f"queued {min(queued_now):,}–{max(queued_now):,} now, the rest by later searches",
            ],
            [
                f"backfill of {args.backfill:,} videos",
                f"{median(walls['backfill']):.2f}",
                "",
                f"{args.backfill / median(walls['backfill']):,.0f} videos/s",
            ],
        ],
    )
    text = document(
        "bench_ingest",
        "Real boto3 clients answered after a fixed round trip in place of AWS "
        "(`python -m bench.bench_ingest`; the module's docstring says what each row runs).",
        [table],
    )
    print(text)
    if args.write:
        print(f"written to {write('ingest', text)}")


if __name__ == "__main__":
    main()
