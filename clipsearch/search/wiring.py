"""The search function's parts, built once per container from its environment (the stack sets
it: deployment/runtime_env.py), and what it does with each event: a direct invoke's search request,
or an HTTP API route."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from clipsearch.cache.store import CacheStore
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.catalog.videos import VideoCatalog
from clipsearch.index.backend import SearchBackend
from clipsearch.index.memory import MemoryBackend
from clipsearch.index.s3vectors import IndexedVideos, S3VectorsBackend
from clipsearch.index.settings import IndexBackend
from clipsearch.index.vector_index import Ledgers, VectorIndex
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.entry import count, logger
from clipsearch.runtime.events import parse_request, response
from clipsearch.search.clip_client import ClipClient
from clipsearch.search.frame_links import FrameLinks, expiry_from_env
from clipsearch.search.http_api import HttpApi, is_http_api_event, timeout_from_env, video_listing
from clipsearch.search.request import parse_search_request
from clipsearch.search.service import SearchService, SearchSettings
from clipsearch.work.queue import WorkQueue
from clipsearch.work.refill import RecentlyQueued, Refill


def measure(name: str, value: float) -> None:
    count(name, value, MetricUnit.Milliseconds if name.endswith("Latency") else MetricUnit.Count)


def lambda_client(read_timeout_s: int) -> Any:
    """A Lambda client with this read timeout; botocore retries nothing (ClipClient retries within
    the search's deadline, never a read timeout)."""
    return boto3.client(
        "lambda",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout_s, connect_timeout=3),
    )


class SearchFunction:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = settings = SearchSettings.from_env(env)
        index_backend = IndexBackend.from_env(env)
        # One S3 client for the cache reads and the frame URLs (SigV4: S3 takes nothing else for
        # presigned GETs in newer regions and for SSE-KMS objects).
        s3 = boto3.client(
            "s3", config=Config(max_pool_connections=settings.s3_concurrency, signature_version="s3v4")
        )
        backend: SearchBackend
        if index_backend.name == "s3vectors":
            backend = S3VectorsBackend(
                VectorIndex(
                    boto3.client("s3vectors"),
                    bucket_name=str(index_backend.vector_bucket),
                    index_name=str(index_backend.vector_index),
                ),
                IndexedVideos(Ledgers(s3, settings.bucket), ttl_seconds=settings.revalidate_seconds),
                dimension=index_backend.dimension,
                measure=measure,
            )
        else:
            backend = MemoryBackend(
                VectorCache(
                    CacheStore(s3, settings.bucket),
                    max_vectors=settings.max_cached_vectors,
                    revalidate_seconds=settings.revalidate_seconds,
                    concurrency=settings.s3_concurrency,
                ),
                measure=measure,
            )
        self.service = SearchService(
            clip=ClipClient(
                functools.cache(lambda_client),
                settings.clip_function,
                read_timeout_s=settings.clip_read_timeout_s,
            ),
            catalog=VideoCatalog(
                boto3.client("dynamodb"), settings.table, scan_ttl_seconds=settings.revalidate_seconds
            ),
            backend=backend,
            refill=Refill(
                WorkQueue(boto3.client("sqs"), settings.work_queue_url),
                RecentlyQueued(settings.requeue_seconds),
                log=lambda message, extra: logger.warning(message, extra=extra),
            ),
            measure=measure,
        )
        # Presigned frame URLs: on request (`frame_urls`), always through the HTTP API.
        self.frame_links = FrameLinks(s3, settings.bucket, expires_s=expiry_from_env(env))
        self.http_api = HttpApi(
            search=lambda request, deadline: self.search(request, deadline, frame_urls=True),
            videos=lambda page: video_listing(self.service.catalog.processed(), page),
            timeout_s=timeout_from_env(env),
        )

    def handle(self, event: Any, deadline: Deadline) -> dict[str, Any]:
        if is_http_api_event(event):
            return self.http_api.handle(event, deadline)
        return response(200, self.search(parse_request(event), deadline))

    def search(
        self, request_value: dict[str, Any], deadline: Deadline, *, frame_urls: bool = False
    ) -> dict[str, Any]:
        request = parse_search_request(
            request_value, default_top_k=self.settings.default_top_k, max_top_k=self.settings.max_top_k
        )
        body = self.service.search(request, deadline)
        if body["searched_frames"] is not None:  # the S3 Vectors index does not say
            count("SearchedFrames", body["searched_frames"])
        count("MissingVideos", len(body["missing_videos"]))
        count("DegradedVideos", len(body["degraded_videos"]))
        return self.frame_links.add_urls(body) if frame_urls or request.frame_urls else body
