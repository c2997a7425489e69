"""Extraction speed: seconds of CPU per minute of 720p and 1080p H.264, through the extraction
function's handler on moto S3 in-process (ranged reads of the upload, decoding, frame-accurate
sampling at 1 frame a second, shot cuts, WebP encoding on threads, PUTs of the frames, the row),
side by side with the FFmpeg command line doing the same sampling and the same WebP output on the
same file, then PUTting its files to the same S3 (`imageio-ffmpeg`'s binary: FFmpeg's own
libraries, as PyAV's). A and B alternate; each pair's ratio is B's CPU over A's, and the median of
the pairs with their range is printed (above 1.0: the function is faster than the command line).

Then time to searchable, measured: an upload on the local system (moto, the functions, the Pipe
and the queues' event sources emulated) until a search with its video id answers its frames, for a
video of `--searchable-minutes`; and modelled for an hour of 1080p on AWS from the measured rates,
the configured concurrency and the functions' sizes (printed with every input).

The clips are a natural image (1/f^2.6 spectrum, like bench_batch's frames) panning with film grain,
cut into four shots, CRF 21: about 10 Mb/s at 1080p, a camera's or phone's bitrate (decoding costs
CPU in proportion to it).

    .venv/bin/python -m bench.bench_extract [--seconds 20] [--pairs 3] [--searchable-minutes 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import boto3
import imageio_ffmpeg
import numpy as np
from moto import mock_aws

from bench.bench_batch import natural_frame
from deployment.context import config_with_overrides
from deployment.runtime_env import RANGE_WALL_S, chunk_frames, range_seconds, vcpus

BUCKET = "bench-extract"
FPS = 30
SHOTS = 4


def clip(path: Path, *, size: tuple[int, int], seconds: int) -> None:
    """`seconds` of panning natural-image shots with grain, H.264 CRF 21, in an MP4."""
    width, height = size
    rng = np.random.default_rng(0)
    scenes = [np.asarray(natural_frame(seed, (width * 2, height))) for seed in range(SHOTS)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "21", "preset": "veryfast"}
        frames = seconds * FPS
        for index in range(frames):
            scene = scenes[index * SHOTS // frames]
            offset = (index * 4) % width  # a slow pan
            picture = scene[:, offset : offset + width].astype(np.int16)
            picture = np.clip(picture + rng.integers(-8, 9, picture.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def cpu_seconds() -> float:
    """This process's and its children's CPU time, user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class FakeContext:
    function_name = "clip-extract"
    memory_limit_in_mb = 10240
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:clip-extract"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def function_run(app: Any, s3: Any, data: bytes, key: str) -> tuple[float, float, int]:
    """(CPU s, wall s, frames) of the handler extracting `data` uploaded at `key`."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "eTag": etag, "size": len(data)}},
    }
    cpu, wall = cpu_seconds(), time.perf_counter()
    body = json.loads(app.handler({"Records": [record]}, FakeContext())["body"])
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    (result,) = body["results"]
    assert result["status"] == "processed", result
    return cpu, wall, int(result["frames"])


def command_line_run(s3: Any, path: Path, key: str, max_side: int) -> tuple[float, float, int]:
    """(CPU s, wall s, frames) of ffmpeg sampling one frame a second into WebP (quality 80, the same
    long side), then the same PUTs to S3."""
    scale = f"scale='if(gt(iw,ih),min({max_side},iw),-2)':'if(gt(iw,ih),-2,min({max_side},ih))'"
    with tempfile.TemporaryDirectory() as out:
        cpu, wall = cpu_seconds(), time.perf_counter()
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-vf", f"fps=1,{scale}",
             "-c:v", "libwebp", "-quality", "80", "-compression_level", "2", f"{out}/frame_%06d.webp"],
            check=True,
        )  # fmt: skip
        files = sorted(Path(out).iterdir())
        for file in files:
            s3.put_object(Bucket=BUCKET, Key=f"frames/{key}/{file.name}", Body=file.read_bytes())
        return cpu_seconds() - cpu, time.perf_counter() - wall, len(files)


def speed(seconds: int, pairs: int) -> dict[str, float]:
    """Per resolution: the function's CPU seconds per minute of video, and the command line's over
    the function's (per-pair median)."""
    os.environ |= {
        "BUCKET_NAME": BUCKET,
        "VIDEOS_TABLE": "videos",
        "INGEST_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/ingest",
        "WORK_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/work.fifo",
        "EXTRACT_MAX_SIDE": "1280",
        "EXTRACT_CONCURRENCY": str(2 * (os.cpu_count() or 1)),
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        "POWERTOOLS_SERVICE_NAME": "clip-extract",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    rates = {}
    with tempfile.TemporaryDirectory() as folder, mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        boto3.client("dynamodb").create_table(
            TableName="videos",
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        import lambda_extract.app as app

        for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
            path = Path(folder) / f"{name}.mp4"
            clip(path, size=size, seconds=seconds)
            data = path.read_bytes()
            print(f"{name}: {seconds} s, {len(data) * 8 / seconds / 1e6:.1f} Mb/s")
            ratios, function_cpu = [], []
            for pair in range(pairs):
                a_cpu, a_wall, a_frames = function_run(app, s3, data, f"uploads/{name}-{pair}.mp4")
                b_cpu, b_wall, b_frames = command_line_run(s3, path, f"cli-{name}-{pair}", 1280)
                ratios.append(b_cpu / a_cpu)
                function_cpu.append(a_cpu)
                print(
                    f"  pair {pair + 1}: function {a_cpu:.2f} s CPU ({a_wall:.2f} s wall, {a_frames} "
                    f"frames), command line {b_cpu:.2f} s CPU ({b_wall:.2f} s wall, {b_frames} frames): "
                    f"{b_cpu / a_cpu:.2f}"
                )
            per_minute = statistics.median(function_cpu) * 60 / seconds
            rates[name] = seconds / statistics.median(function_cpu)  # s of video per CPU-second
            print(
                f"  {name}: {per_minute:.1f} s of CPU per minute of video; command line / function, "
                f"per-pair median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
            )
    return rates


def measured_time_to_searchable(minutes: int) -> float:
    """Seconds from an upload of `minutes` of 720p video on the local system to the first search with
    its video id that answers its frames (every engine running, as in the demo)."""
    from clipsearch.layout import upload_video_id
    from local.models import choose_model
    from local.stack import local_system

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.mp4"
        clip(path, size=(1280, 720), seconds=minutes * 60)
        data = path.read_bytes()
        with local_system(choose_model().path) as system:
            started = time.perf_counter()
            etag = system.upload("uploads/long.mp4", data)
            video_id = upload_video_id(system.bucket, "uploads/long.mp4", etag)
            while True:
                body = json.loads(
                    system.invoke("search", {"query": "a scene", "video_ids": [video_id]})["body"]
                )
                if body.get("results"):
                    return time.perf_counter() - started
                time.sleep(1)


def modelled_hour_of_1080p(rate_1080p_per_vcpu_s: float) -> None:
    """Time to searchable of one hour of 1080p on AWS, from the measured extraction rate, the
    configured functions and concurrency, and the batch function's measured embedding rate."""
    config = config_with_overrides([])
    extract, batch = config.extract, config.batch
    per_range = range_seconds(extract.timeout_s, extract.memory_mb)
    ranges = math.ceil(3600 / per_range)
    waves = math.ceil(ranges / config.extract_max_concurrency)
    range_wall = per_range / (rate_1080p_per_vcpu_s * vcpus(extract.memory_mb))
    frames = math.ceil(3600 * config.extract_fps)
    # int8, end to end on this machine's 2 vCPUs: 35 frames/s (bench_batch; README Benchmarks).
    embed_rate = 35 / 2 * vcpus(batch.memory_mb)
    chunks = math.ceil(frames / chunk_frames(batch.timeout_s, batch.memory_mb))
    embed_wall = frames / chunks / embed_rate
    fixed = {"notification": 1.0, "extraction cold start": 3.0, "row -> stream -> pipe -> queue": 2.0,
             "batch cold start (model load)": 5.0, "packed object, search": 2.0}  # fmt: skip
    total = sum(fixed.values()) + waves * range_wall + embed_wall
    print("\ntime to searchable, 1 hour of 1080p on AWS (modelled):")
    print(f"  extraction: {ranges} ranges of {per_range} s, {config.extract_max_concurrency} at once "
          f"({waves} wave(s)), {range_wall:.0f} s each at {rate_1080p_per_vcpu_s:.2f} s of video per "
          f"vCPU-s x {vcpus(extract.memory_mb):.1f} vCPUs ({extract.memory_mb} MB; range wall target "
          f"{RANGE_WALL_S} s)")  # fmt: skip
    print(f"  embedding: {frames} frames in {chunks} invocation(s) at {embed_rate:.0f} frames/s "
          f"({vcpus(batch.memory_mb):.1f} vCPUs, int8): {embed_wall:.0f} s")  # fmt: skip
    print("  fixed: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in fixed.items()))
    print(f"  total: {total:.0f} s (target <= 120 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--searchable-minutes", type=int, default=10)
    args = parser.parse_args()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_version()
    print(f"machine: {os.cpu_count()} vCPUs; PyAV {av.__version__}, ffmpeg {ffmpeg}")
    rates = speed(args.seconds, args.pairs)
    for name, rate in rates.items():
        print(f"{name}: {rate:.2f} s of video per CPU-second")
    if args.searchable_minutes:
        took = measured_time_to_searchable(args.searchable_minutes)
        print(
            f"\ntime to searchable, {args.searchable_minutes} min of 720p on the local system: {took:.0f} s"
        )
    modelled_hour_of_1080p(rates["1080p"])


if __name__ == "__main__":
    main()
