"""Search function: a text, image or vector query in, the best matching video frames out.

Request: {"query": "a man riding a bicycle"} | {"image": ...} | {"embedding": [...]}, with options
top_k, video_ids, min_score, dedupe, time_range, frame_urls (README: Search function). No torch here:
the query vector comes from the CLIP function, the frames' vectors from the cache batch writes.
Behind the HTTP API (payload 2.0 events): POST /search and GET /videos (clipsearch/http_api.py).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from clipsearch.cache_store import CacheStore
from clipsearch.clip_client import ClipClient
from clipsearch.deadline import Deadline, LambdaDeadline
from clipsearch.entry import count, lambda_entry, logger
from clipsearch.events import parse_request, response
from clipsearch.frame_links import FrameLinks, expiry_from_env
from clipsearch.http_api import HttpApi, is_http_api_event, timeout_from_env, video_listing
from clipsearch.memory_backend import MemoryBackend
from clipsearch.refill import RecentlyQueued, Refill
from clipsearch.s3vectors_backend import IndexedVideos, S3VectorsBackend
from clipsearch.search_backend import SearchBackend
from clipsearch.search_request import parse_search_request
from clipsearch.search_service import SearchService, SearchSettings
from clipsearch.settings import IndexBackend
from clipsearch.vector_cache import VectorCache
from clipsearch.vector_index import Ledgers, VectorIndex
from clipsearch.video_catalog import VideoCatalog
from clipsearch.work_queue import WorkQueue

settings = SearchSettings.from_env(os.environ)
index_backend = IndexBackend.from_env(os.environ)
# One S3 client for the cache reads and the frame URLs (SigV4: S3 takes nothing else for presigned
# GETs in newer regions and for SSE-KMS objects).
s3 = boto3.client("s3", config=Config(max_pool_connections=settings.s3_concurrency, signature_version="s3v4"))


def _measure(name: str, value: float) -> None:
    count(name, value, MetricUnit.Milliseconds if name.endswith("Latency") else MetricUnit.Count)


@functools.cache
def _clip_lambda(read_timeout_s: int) -> Any:
    """A Lambda client per read timeout; botocore retries nothing (ClipClient retries within the
    search's deadline, never a read timeout)."""
    return boto3.client(
        "lambda",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout_s, connect_timeout=3),
    )


def _backend() -> SearchBackend:
    if index_backend.name == "s3vectors":
        return S3VectorsBackend(
            VectorIndex(
                boto3.client("s3vectors"),
                bucket_name=str(index_backend.vector_bucket),
                index_name=str(index_backend.vector_index),
            ),
            IndexedVideos(Ledgers(s3, settings.bucket), ttl_seconds=settings.revalidate_seconds),
            dimension=index_backend.dimension,
            measure=_measure,
        )
    return MemoryBackend(
        VectorCache(
            CacheStore(s3, settings.bucket),
            max_vectors=settings.max_cached_vectors,
            revalidate_seconds=settings.revalidate_seconds,
            concurrency=settings.s3_concurrency,
        ),
        measure=_measure,
    )


service = SearchService(
    clip=ClipClient(_clip_lambda, settings.clip_function, read_timeout_s=settings.clip_read_timeout_s),
    catalog=VideoCatalog(
        boto3.client("dynamodb"), settings.table, scan_ttl_seconds=settings.revalidate_seconds
    ),
    backend=_backend(),
    refill=Refill(
        WorkQueue(boto3.client("sqs"), settings.work_queue_url),
        RecentlyQueued(settings.requeue_seconds),
        log=lambda message, extra: logger.warning(message, extra=extra),
    ),
    measure=_measure,
)


# Presigned frame URLs: on request (`frame_urls`), always through the HTTP API.
frame_links = FrameLinks(s3, settings.bucket, expires_s=expiry_from_env(os.environ))


def search(request_value: dict[str, Any], deadline: Deadline, *, frame_urls: bool = False) -> dict[str, Any]:
    request = parse_search_request(
        request_value, default_top_k=settings.default_top_k, max_top_k=settings.max_top_k
    )
    body = service.search(request, deadline)
    if body["searched_frames"] is not None:  # the S3 Vectors index does not say
        count("SearchedFrames", body["searched_frames"])
    count("MissingVideos", len(body["missing_videos"]))
    count("DegradedVideos", len(body["degraded_videos"]))
    return frame_links.add_urls(body) if frame_urls or request.frame_urls else body


http_api = HttpApi(
    search=lambda request, deadline: search(request, deadline, frame_urls=True),
    videos=lambda: video_listing(service.catalog.processed()),
    timeout_s=timeout_from_env(os.environ),
)


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    if is_http_api_event(event):
        return http_api.handle(event, LambdaDeadline(context))
    return response(200, search(parse_request(event), LambdaDeadline(context)))
