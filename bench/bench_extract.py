"""Extraction speed: seconds of CPU per minute of 720p and 1080p H.264, through the extraction
function's handler on moto S3 in-process (ranged reads of the upload, decoding, frame-accurate
sampling at 1 frame a second, shot cuts, WebP encoding on threads, PUTs of the frames, the row),
side by side with the FFmpeg command line doing the same sampling and the same WebP output on the
same file, then PUTting its files to the same S3 (`imageio-ffmpeg`'s binary: FFmpeg's own
libraries, as PyAV's). A and B alternate; each pair's ratio is B's CPU over A's (and B's wall time
over A's: Lambda bills the wall time), and the median of the pairs with their range is printed
(above 1.0: the function is faster than the command line). The function decodes in pieces side by
side (`EXTRACT_DECODERS`, one per core, as the stack sets it); the command line with FFmpeg's own
frame threads.

Then time to searchable, measured: an upload on the local system (moto, the functions, the Pipe
and the queues' event sources emulated) until a search with its video id answers its frames, for a
video of `--searchable-minutes`; and modelled for an hour of 1080p on AWS from the measured rates,
the configured concurrency and the functions' sizes (printed with every input).

The clips are a natural image (1/f^2.6 spectrum, like bench_batch's frames) panning with film grain,
cut into four shots, CRF 21: about 10 Mb/s at 1080p, a camera's or phone's bitrate (decoding costs
CPU in proportion to it).

    .venv/bin/python -m bench.bench_extract [--seconds 20] [--pairs 3] [--searchable-minutes 10] [--write]

`--write` keeps the tables in bench/results/extract.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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
from bench.lambda_context import LambdaContext
from bench.side_by_side import median, per_pair
from bench.tables import Table, document, load, write
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


CONTEXT = LambdaContext("clip-extract", memory_limit_in_mb=10240, remaining_ms=900_000)


def function_run(app: Any, s3: Any, data: bytes, key: str) -> tuple[float, float, int]:
    """(CPU s, wall s, frames) of the handler extracting `data` uploaded at `key`."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "eTag": etag, "size": len(data)}},
    }
    cpu, wall = cpu_seconds(), time.perf_counter()
    body = json.loads(app.handler({"Records": [record]}, CONTEXT)["body"])
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


def speed(seconds: int, pairs: int) -> tuple[dict[str, float], Table]:
    """Per resolution: seconds of video per CPU-second of the function, and the table of the
    function's CPU per minute of video against the command line's (per pair)."""
    os.environ |= {
        "BUCKET_NAME": BUCKET,
        "VIDEOS_TABLE": "videos",
        "INGEST_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/ingest",
        "WORK_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/work.fifo",
        "EXTRACT_MAX_SIDE": "1280",
        "EXTRACT_CONCURRENCY": str(2 * (os.cpu_count() or 1)),
        "EXTRACT_DECODERS": str(os.cpu_count() or 1),  # as the stack sets it: one per vCPU
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        "POWERTOOLS_SERVICE_NAME": "clip-extract",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    rates: dict[str, float] = {}
    table = Table(
        f"Extraction speed: {seconds} s clips at 1 frame a second, {pairs} pairs, CPU and wall time",
        ["clip", "function CPU s per minute of video", "command line CPU s per minute",
         "command line / function, CPU (per pair)", "the same, wall (per pair)", "frames", "load"],
    )  # fmt: skip
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
            function_cpu, command_cpu, function_wall, command_wall = [], [], [], []
            for pair in range(pairs):
                a_cpu, a_wall, a_frames = function_run(app, s3, data, f"uploads/{name}-{pair}.mp4")
                b_cpu, b_wall, b_frames = command_line_run(s3, path, f"cli-{name}-{pair}", 1280)
                function_cpu.append(a_cpu)
                command_cpu.append(b_cpu)
                function_wall.append(a_wall)
                command_wall.append(b_wall)
                print(
                    f"  pair {pair + 1}: function {a_cpu:.2f} s CPU ({a_wall:.2f} s wall, {a_frames} "
                    f"frames), command line {b_cpu:.2f} s CPU ({b_wall:.2f} s wall, {b_frames} frames): "
                    f"{b_cpu / a_cpu:.2f}"
                )
            rates[name] = seconds / median(function_cpu)  # s of video per CPU-second
            table.rows.append(
                [
                    f"{name}, {len(data) * 8 / seconds / 1e6:.1f} Mb/s H.264",
                    f"{median(function_cpu) * 60 / seconds:.1f}",
                    f"{median(command_cpu) * 60 / seconds:.1f}",
                    str(per_pair(command_cpu, function_cpu)),
                    str(per_pair(command_wall, function_wall)),
                    str(a_frames),
                    load(),
                ]
            )
    return rates, table


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


# Lambda's published x86 prices and S3 Standard's PUT price (docs/operators/cost.md uses the same).
LAMBDA_GB_SECOND = 0.0000166667
S3_PUT = 0.005 / 1000


def modelled_hour_of_1080p(rate_1080p_per_vcpu_s: float, measured: str) -> Table:
    """Time to searchable of one hour of 1080p on AWS, from the measured extraction rate, the
    configured functions and concurrency, and the batch function's measured embedding rate."""
    config = config_with_overrides([])
    extract, batch = config.extract, config.batch
    per_range = range_seconds(extract.timeout_s, extract.memory_mb)
    ranges = math.ceil(3600 / per_range)
    waves = math.ceil(ranges / config.extract_max_concurrency)
    range_wall = per_range / (rate_1080p_per_vcpu_s * vcpus(extract.memory_mb))
    frames = math.ceil(3600 * config.extract_fps)
    # int8, end to end on this machine's 2 vCPUs: 40.9 frames/s (bench_batch's run of 2026-12-07 23:49
    # UTC, per-frame cache; its 2026-12-08 run, on a host about 10 % slower, gave 35.8, and 40.7 with
    # frame_cache=packed: bench/results/batch.md).
    embed_rate = 40.9 / 2 * vcpus(batch.memory_mb)
    chunks = math.ceil(frames / chunk_frames(batch.timeout_s, batch.memory_mb))
    embed_wall = frames / chunks / embed_rate
    fixed = {"notification": 1.0, "extraction cold start": 3.0, "row -> stream -> pipe -> queue": 2.0,
             "batch cold start (model load)": 5.0, "packed object, search": 2.0}  # fmt: skip
    total = sum(fixed.values()) + waves * range_wall + embed_wall
    rows = [
        ["modelled: an hour of 1080p on AWS, extraction", f"{waves * range_wall:.0f}",
         f"{ranges} ranges of {per_range} s, {config.extract_max_concurrency} at once ({waves} wave(s)), "
         f"each {range_wall:.0f} s at the measured {rate_1080p_per_vcpu_s:.2f} s of video per vCPU-s x "
         f"{vcpus(extract.memory_mb):.1f} vCPUs ({extract.memory_mb} MB; target {RANGE_WALL_S} s)"],
        ["modelled: embedding", f"{embed_wall:.0f}",
         f"{frames} frames in {chunks} invocation(s) at {embed_rate:.0f} frames/s (int8, "
         f"{vcpus(batch.memory_mb):.1f} vCPUs)"],
        ["modelled: fixed steps", f"{sum(fixed.values()):.0f}",
         ", ".join(f"{name} {seconds:.0f} s" for name, seconds in fixed.items()) + " (assumed)"],
        ["modelled: total (target <= 120 s)", f"**{total:.0f}**", "linear scaling across vCPUs assumed"],
    ]  # fmt: skip
    if measured:
        rows.insert(0, ["measured: an upload on the local system until a search answers its frames",
                        measured, "every engine of the demo, on this machine"])  # fmt: skip
    return Table("Time to searchable", ["what", "seconds", "how"], rows)


def cost_table(rates: dict[str, float]) -> Table:
    """Lambda GB-seconds and frame PUTs per hour of video, from the measured rates."""
    config = config_with_overrides([])
    extract = config.extract
    frames = math.ceil(3600 * config.extract_fps)
    rows = []
    for name, rate in rates.items():
        wall = 3600 / (rate * vcpus(extract.memory_mb))
        compute = wall * extract.memory_mb / 1024 * LAMBDA_GB_SECOND
        puts = frames * S3_PUT
        rows.append([name, f"{wall:.0f} s", f"${compute:.3f}", f"${puts:.3f}", f"${compute + puts:.3f}"])
    return Table(
        f"Cost of extraction per hour of video ({extract.memory_mb} MB, x86, {frames} frames)",
        ["clip", "function time", "Lambda compute", "frame PUTs", "total"],
        rows,
        [f"Lambda ${LAMBDA_GB_SECOND:.10f} per GB-second, S3 PUT ${S3_PUT * 1000:.3f} per 1,000; the "
         "measured CPU rate scaled linearly to the function's vCPUs (not measured on Lambda)."],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--searchable-minutes", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="keep the tables in bench/results/extract.md")
    args = parser.parse_args()
    rates, speeds = speed(args.seconds, args.pairs)
    measured = ""
    if args.searchable_minutes:
        took = measured_time_to_searchable(args.searchable_minutes)
        measured = f"{took:.0f} ({args.searchable_minutes} min of 720p)"
    text = document(
        "bench_extract",
        f"PyAV {av.__version__} against ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} "
        "(`python -m bench.bench_extract`; the module's docstring says what each row runs).",
        [speeds, modelled_hour_of_1080p(rates["1080p"], measured), cost_table(rates)],
    )
    print(text)
    if args.write:
        print(f"written to {write('extract', text)}")


if __name__ == "__main__":
    main()
