"""What each function's environment holds, and the values derived for it: the stack sets exactly
these, and the local system runs its handlers with the same (no CDK import).

Each function gets only the variables its handler reads; `MODEL_DIR` comes from the image
(Dockerfile `ENV`), limits the handlers default themselves are not set here.
"""

from __future__ import annotations

import math

from clipsearch.catalog.schema import ORIGINAL_KEY_INDEX
from clipsearch.search.routes import INTEGRATION_TIMEOUT_S
from deployment.config import AppConfig

# The CloudWatch namespace of the handlers' EMF metrics (Powertools), and of the dashboard.
METRICS_NAMESPACE = "ClipFrameSearch"

# Memory of the search function that is not vector cache: the Python runtime, numpy, boto3, Powertools.
RUNTIME_BASELINE_MB = 300
# CLIP ViT-B/32 (openai/clip-vit-base-patch32) embedding dimension: the one home of that number in the
# stacks (the memory bound, the S3 Vectors index). The cache stores vectors as float16 (1 KB each):
# the memory bound counts in those, the payload.
EMBEDDING_DIM = 512
VECTOR_BYTES = 2
# What the search holds per 512-d vector once loaded: its int8 codes and the bytes that make it exact
# again (clipsearch/cache/codes.py, about 1,126), its frame index (8), and its frame id and key only
# when the extractor did not name them (made from the index when asked). At most 1.2 KB.
HELD_BYTES_PER_VECTOR = 1229
# The search's peak memory (RSS) over the float16 payload of the vectors it holds, cold and on a warm
# repack of every video: what is held (HELD_BYTES_PER_VECTOR, 1.2x the payload) and the reads in
# flight (S3_CONCURRENCY bodies being decoded and coded), freed memory given back to the system
# (clipsearch/runtime/heap.py). Measured through the search's own load path (bench/bench_search.py:
# VectorCache's 32 reading threads, botocore against moto's S3 server, the packed decode,
# MemoryBackend's ranking; VmHWM in a process of its own): see docs/operators/scale.md;
# tests/search/test_units.py pins it (tracemalloc) on every run.
PEAK_FACTOR = 1.3
# The search gives up on the CLIP call this long before its own timeout (a 502, not silence).
CLIP_CALL_MARGIN_S = 5
# Frames per second one vCPU embeds with ViT-B/32 fp32 at batch 32: 17 images/s measured on 2 vCPUs
# (ONNX and torch; torch 13-19, 16.9 in one run). Lambda gives 1 vCPU per 1,769 MB, at most 6.
FRAMES_PER_SECOND_PER_VCPU = 8.5
MB_PER_VCPU = 1769
MAX_VCPUS = 6
# A chunk is what one batch invocation embeds in its timeout at this share of the measured speed
# (S3 reads, cold starts, a slower host): the rest of its timeout is margin.
CHUNK_SPEED_SHARE = 0.5
# Seconds of 1080p H.264 one vCPU decodes, samples and writes per second (bench/bench_extract.py
# measured 4.1 at 6.7 Mb/s; half that leaves room for a camera's higher bitrates, which cost more to
# decode; 720p is about twice as fast): a range of a long video is what one extraction
# invocation does in RANGE_WALL_S, so that the ranges of an hour of video finish in about a minute
# side by side (the time to searchable), and well within the function's timeout.
SOURCE_SECONDS_PER_VCPU_SECOND = 2.0
RANGE_WALL_S = 60


def max_cached_vectors(memory_mb: int) -> int:
    """How many vectors the search function may keep in memory (`MAX_CACHED_VECTORS`)."""
    usable = max(0, memory_mb - RUNTIME_BASELINE_MB) * 2**20
    return max(1, math.floor(usable / (EMBEDDING_DIM * VECTOR_BYTES * PEAK_FACTOR)))


def clip_read_timeout_s(search_timeout_s: int) -> int:
    """`CLIP_READ_TIMEOUT_S`: give up on the CLIP call before Lambda ends the search."""
    return max(1, search_timeout_s - CLIP_CALL_MARGIN_S)


def vcpus(memory_mb: int) -> float:
    """The vCPUs Lambda gives a function of this memory."""
    return min(MAX_VCPUS, memory_mb / MB_PER_VCPU)


def chunk_frames(timeout_s: int, memory_mb: int) -> int:
    """`CHUNK_FRAMES`: a video with more frames to embed is split into chunks of this many frames,
    each one batch invocation that finishes within its timeout at half the measured speed."""
    return max(1, math.floor(timeout_s * FRAMES_PER_SECOND_PER_VCPU * vcpus(memory_mb) * CHUNK_SPEED_SHARE))


def tracing_variables(tracing: bool) -> dict[str, str]:
    """Powertools Tracer: off unless X-Ray tracing is on; then it never puts responses in traces."""
    if tracing:
        return {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false"}
    return {"POWERTOOLS_TRACE_DISABLED": "true"}


def range_seconds(timeout_s: int, memory_mb: int) -> int:
    """`EXTRACT_RANGE_SECONDS`: seconds of video one extraction invocation takes on; a longer video
    is split into ranges of this length that run side by side."""
    wall = min(RANGE_WALL_S, timeout_s * CHUNK_SPEED_SHARE)
    return max(1, math.floor(wall * SOURCE_SECONDS_PER_VCPU_SECOND * vcpus(memory_mb)))


def function_environments(
    config: AppConfig, *, bucket: str, work_queue_url: str, ingest_queue_url: str = ""
) -> dict[str, dict[str, str]]:
    """Role (`clip`, `search`, `batch`, `extract` with frame_extraction) -> the exact environment of
    that function.

    `bucket` (the stack's name carries the account: `physical_bucket_name`; the local system's is
    `local_bucket_name`) and the queues' URLs: CloudFormation tokens in the stack."""

    def powertools(function_name: str) -> dict[str, str]:
        return {
            "POWERTOOLS_SERVICE_NAME": function_name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            **tracing_variables(config.tracing),
        }

    # Search queries the index, batch fills it: both learn the backend, and with S3 Vectors where it is.
    index: dict[str, str] = {"INDEX_BACKEND": config.index_backend}
    if config.index_backend == "s3vectors":
        index |= {
            "VECTOR_BUCKET_NAME": config.physical_vector_bucket_name,
            "VECTOR_INDEX_NAME": config.vector_index_name,
            "VECTOR_DIMENSION": str(EMBEDDING_DIM),
        }

    environments = {
        "clip": {"BUCKET_NAME": bucket, **powertools(config.clip.function_name)},
        "search": {
            "BUCKET_NAME": bucket,
            "VIDEOS_TABLE": config.physical_table_name,
            "CLIP_FUNCTION_NAME": config.clip.function_name,
            "WORK_QUEUE_URL": work_queue_url,
            "CLIP_READ_TIMEOUT_S": str(clip_read_timeout_s(config.search_timeout_s)),
            "MAX_CACHED_VECTORS": str(max_cached_vectors(config.search_memory_mb)),
            "FRAME_URL_SECONDS": str(config.frame_url_seconds),
            "HTTP_API_TIMEOUT_S": str(INTEGRATION_TIMEOUT_S),
            **index,
            **powertools(config.search.function_name),
        },
        "batch": {
            "BUCKET_NAME": bucket,
            "VIDEOS_TABLE": config.physical_table_name,
            "WORK_QUEUE_URL": work_queue_url,
            "CHUNK_FRAMES": str(chunk_frames(config.batch_timeout_s, config.batch_memory_mb)),
            "FRAME_CACHE": config.frame_cache,
            **index,
            **powertools(config.batch.function_name),
        },
    }
    if config.frame_extraction:
        extract = config.extract
        environments["extract"] = {
            "BUCKET_NAME": bucket,
            "VIDEOS_TABLE": config.physical_table_name,
            "INGEST_QUEUE_URL": ingest_queue_url,
            "WORK_QUEUE_URL": work_queue_url,
            "EXTRACT_FPS": f"{config.extract_fps:g}",
            "EXTRACT_MAX_FRAMES": str(config.extract_max_frames),
            "EXTRACT_MAX_SECONDS": str(config.extract_max_seconds),
            "EXTRACT_MAX_UPLOAD_MB": str(config.extract_max_upload_mb),
            "EXTRACT_MAX_SIDE": str(config.extract_max_side),
            "EXTRACT_RANGE_SECONDS": str(range_seconds(extract.timeout_s, extract.memory_mb)),
            # A run's claim is stale (it died) once twice its timeout has passed.
            "EXTRACT_STALE_SECONDS": str(2 * extract.timeout_s),
            "EXTRACT_CONCURRENCY": str(max(2, math.ceil(2 * vcpus(extract.memory_mb)))),
            # A run's keyframe-aligned pieces decode side by side, one single-threaded decoder per vCPU.
            "EXTRACT_DECODERS": str(max(1, round(vcpus(extract.memory_mb)))),
            **({"VIDEOS_KEY_INDEX": ORIGINAL_KEY_INDEX} if config.create_table else {}),
            **powertools(extract.function_name),
        }
    return environments
