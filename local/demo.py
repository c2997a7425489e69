"""`make demo`: the whole system on emulated AWS, end to end, with the guide's query.

Starts moto (S3, DynamoDB with its stream, SQS) and the Lambda Invoke endpoint on 127.0.0.1, with
the Pipe and the work queue's event source emulated; creates the bucket (with its lifecycle rule),
the videos table and the queues; adds three drawn sample videos marked processed, which the stream
gets embedded without anyone asking; searches "a man riding a bicycle" (search -> CLIP); uploads a
video file (encoded here) that S3's notification gets extracted, embedded and searchable with nobody
asking; serves the page; stops everything. Exits non-zero on any failure.

    python -m local.demo [-c index_backend=s3vectors ...]   (`make demo INDEX_BACKEND=s3vectors`)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from clipsearch.catalog.rows import VideoRows
from clipsearch.index.vector_index import Ledgers
from clipsearch.layout import packed_key, upload_video_id
from deployment.context import config_with_overrides
from local.models import choose_model
from local.report import results_table, short
from local.running import Running, forget
from local.sample_video import demo_video
from local.stack import LocalSystem, local_system
from local.web import LocalWeb, serve_system_web

QUERY = "a man riding a bicycle"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The whole system on emulated AWS, end to end.")
    parser.add_argument("-c", dest="context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--serve", action="store_true", help="keep everything up until stopped (make serve)")
    args = parser.parse_args(argv)
    config = config_with_overrides(args.context)  # as `cdk -c` would
    started = time.perf_counter()
    model = choose_model()
    print(f"model: {model.note}")
    with local_system(model.path, config=config) as system:
        names = ", ".join(system.functions.values())
        print(f"emulated AWS on 127.0.0.1: bucket {system.bucket}, table {system.table}, functions {names}")
        print("work queue (SQS FIFO + dead-letter queue); table stream -> Pipe -> queue -> batch")
        if config.index_backend == "s3vectors":
            print(
                f"index backend: S3 Vectors {config.physical_vector_bucket_name}/{config.vector_index_name}"
            )
        videos = system.add_samples()
        print(
            f"\nadded {len(videos)} sample videos, marked processed in {system.table}; nobody asks for them:"
        )
        system.settle()
        for video_id in videos:
            print(packed_line(system, video_id))
        body = search(system, QUERY)
        print(f'\nsearch "{QUERY}" via {system.functions["search"]} -> {system.functions["clip"]}:')
        print(results_table(body))
        print('\nthe same as moments (group "moments": time ranges of one video, never across a cut):')
        print(results_table(search(system, QUERY, group="moments")))
        key = "uploads/demo-scenes.mp4"
        video = demo_video()
        print(
            f"\nupload a video file: {key} ({len(video):,} bytes, 20 s, H.264, five drawn shots); "
            "nobody asks for anything:"
        )
        etag = system.upload(key, video)
        uploaded = upload_video_id(system.bucket, key, etag)
        system.settle()
        row = VideoRows(system.dynamodb, system.table).get(uploaded) or {}
        if row.get("status") != "processed":
            raise RuntimeError(f"{key} was not extracted: {row}")
        print(
            f"  S3 notification -> ingest queue -> {system.functions['extract']}: {int(row['frames_count'])} "
            f"frames (1 a second), {int(row['scenes_count'])} scenes, row processed"
        )
        print(f"  table stream -> Pipe -> work queue -> {system.functions['batch']}:")
        print(packed_line(system, uploaded))
        body = search(system, QUERY, video_ids=[uploaded], group="moments")
        if {moment["video_id"] for moment in body["moments"]} != {uploaded}:
            raise RuntimeError(f"{key} is not searchable: {body}")
        print(f'search "{QUERY}" in the uploaded video, as moments (one per shot it matches):')
        print(results_table(body))
        everything = search(system, QUERY)
        if everything["searched_videos"] != len(videos) + 1:
            raise RuntimeError(
                f"a search covers {everything['searched_videos']} videos, not {len(videos) + 1}"
            )
        frames = everything["searched_frames"]  # the S3 Vectors index does not count them
        print(
            f"every search from now on, the page's too, covers all {everything['searched_videos']} videos"
            + (f" ({frames} frames)" if frames is not None else "")
        )
        print(f"\n{queue_line(system)}")
        serve_page(system, keep=args.serve)
    print(f"\nstopped the local servers; demo took {time.perf_counter() - started:.1f}s")
    return 0


def serve_page(system: LocalSystem, *, keep: bool) -> None:
    """The page, the HTTP API and the sign-in stand-in (local/web.py); checked, then kept up until
    Ctrl-C or SIGTERM when `keep` (`make serve`) or a person is at the terminal; a run without one
    and without `keep` (CI's, a test's) goes on. While kept up, the other local tools use it."""
    with serve_system_web(system) as web:
        print(
            f"\nthe search page: {web.page_url}  (HTTP API {web.api_url}; sign in with the button, any email)"
        )
        check_page(web)
        if not (keep or sys.stdin.isatty()):
            return
        stopped = threading.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, lambda number, frame: stopped.set())
        running = Running(
            pid=os.getpid(),
            region=system.local.region,
            moto_url=system.s3.meta.endpoint_url,
            lambda_url=system.lambda_client.meta.endpoint_url,
            bucket=system.bucket,
            table=system.table,
            functions=system.functions,
            page_url=web.page_url,
            api_url=web.api_url,
        )
        running.save()
        try:
            print(
                "serving until stopped (Ctrl-C, or SIGTERM); make invoke and make add-video use this system",
                flush=True,
            )
            stopped.wait()
        finally:
            forget(running.pid)


def check_page(web: LocalWeb) -> None:
    """The page loads, and the API refuses a call without a token and answers one with a token."""
    with urllib.request.urlopen(web.page_url) as page:  # noqa: S310 - our own 127.0.0.1 server
        if b"CLIP frame search" not in page.read():
            raise RuntimeError("the page did not load")
    try:
        urllib.request.urlopen(web.api_url + "videos")  # noqa: S310
    except urllib.error.HTTPError as refused:
        if refused.code != 401:
            raise
    else:
        raise RuntimeError("the HTTP API answered a call without a token")
    token = web.user_pool.token("demo@example.com")
    signed = urllib.request.Request(web.api_url + "videos", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(signed) as answer:  # noqa: S310
        count = json.loads(answer.read())["count"]
    print(f"HTTP API: GET /videos lists {count} videos with a token, 401 without one")


def search(system: LocalSystem, query: str, **options: Any) -> dict[str, Any]:
    response = system.invoke("search", {"query": query, "top_k": 5, **options})
    if response["statusCode"] != 200:
        raise RuntimeError(f"search failed: {response}")
    return dict(json.loads(response["body"]))


def packed_line(system: LocalSystem, video_id: str) -> str:
    head = system.s3.head_object(Bucket=system.bucket, Key=packed_key(video_id))
    frames, size = head["Metadata"]["frames"], head["ContentLength"]
    line = f"  {short(video_id):<18} packed {frames} frames ({size:,} bytes)"
    ledger = Ledgers(system.s3, system.bucket).read(video_id).ledger
    if ledger is None:
        return line  # the memory backend: no index
    return f"{line}, {len(ledger.frame_ids)} vectors in the S3 Vectors index"


def queue_line(system: LocalSystem) -> str:
    def depth(url: str) -> str:
        attributes = system.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return str(attributes["Attributes"]["ApproximateNumberOfMessages"])

    work, failed = depth(system.work_queue_url), depth(system.failure_queue_url)
    return f"work queue: {work} waiting; batch failure queue: {failed}"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:
        print(f"demo failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
