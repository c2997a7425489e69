"""Batch embedding throughput: end to end (S3 read + decode + model + .npy writes + packed object,
on moto S3 in-process) against the model alone on the same frames, in one run, as a ratio; and
end to end with `frame_cache=packed` (no `.npy` writes), with the PUTs each makes.

The model alone runs two ways, and the ratio is against the faster: one batch at a time on all
vCPUs (as the CLIP function runs it), and one single-threaded batch per vCPU side by side (as the
batch function runs it, `calls_at_once`), each call preprocessing its own images.

Full-size ViT-B/32 with random weights, run as the images run it (ONNX Runtime, the folder
`clipsearch.model.export_onnx` writes, fp32 or int8); frames are 640x360 WebP at quality 80 like the
pipeline's. Decoding WebP costs CPU in proportion to the bytes, so the frames' content matters:
`natural` (default) frames have a natural image's 1/f^a spectrum (luminance-led colour, a = 2.6),
calibrated to the size of real photos (two real 640x360 photos at q80: 34 and 54 KB; these 49 KB);
`noise` frames (independent random pixels, 154 KB) are the decoder's worst case.

Each round runs the four paths once, in rotating order (bench/side_by_side.py); the ratio is taken
within each round and reported as the median of the rounds with their range.

    .venv/bin/python -m bench.bench_batch [--frames 64] [--rounds 5] [--precision fp32 int8]
        [--content natural noise] [--write]

`--write` keeps the table in bench/results/batch.md.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import numpy as np
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws
from PIL import Image
from urllib3.response import HTTPResponse

from bench.bench_clip import runtime_folder
from bench.side_by_side import in_rounds, median, per_pair, timed
from bench.tables import Table, document, load, write
from clipsearch.batch.request import VideoRequest
from clipsearch.batch.service import FRAME_CACHES, BatchService, BatchSettings
from clipsearch.cache.store import CacheStore
from clipsearch.layout import parse_frame_key
from clipsearch.media.images import decode_image
from clipsearch.model.onnx_model import IMAGE_BATCH, OnnxEmbedder, available_cpus
from clipsearch.work.queue import WorkQueue
from tests.sample_images import encode, picture

BUCKET = "bench-frames"
VIDEO = "bench-video"


def natural_frame(seed: int, size: tuple[int, int] = (640, 360), exponent: float = 2.6) -> Image.Image:
    """A frame with a natural image's power spectrum (1/f^exponent), brightness-led like a photo:
    luminance, and two weaker, smoother colour fields."""
    rng = np.random.default_rng(seed)
    width, height = size

    def field(power: float) -> np.ndarray:
        frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
        frequency[0, 0] = 1
        spectrum = rng.standard_normal(frequency.shape) + 1j * rng.standard_normal(frequency.shape)
        values = np.fft.irfft2(spectrum / frequency ** (power / 2), s=(height, width))
        return np.asarray((values - values.mean()) / values.std())

    luma, u, v = field(exponent), field(exponent + 0.4), field(exponent + 0.4)
    base = rng.uniform(60, 190, 3)
    rgb = np.stack(
        [base[0] + 45 * luma + 12 * v, base[1] + 45 * luma - 8 * u - 6 * v, base[2] + 45 * luma + 14 * u], -1
    )
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


FRAMES = {"natural": natural_frame, "noise": lambda seed: picture(seed, (640, 360))}


def cpu_ms_per_frame(work: Callable[[], object], frames: int) -> float:
    """The CPU time of `work` (over `frames` frames), per frame, median of three."""
    samples = []
    for _ in range(3):
        started = time.process_time()
        work()
        samples.append(time.process_time() - started)
    return median(samples) * 1000 / frames


def without_server(blob: bytes) -> Any:
    """An S3 client answered at botocore's send step, with no server behind it: a GET returns
    `blob`, a PUT succeeds. What it costs is the client's own work (serialise, sign, parse)."""

    def answer(request: Any, **_: Any) -> Any:
        body = blob if request.method == "GET" else b""
        raw = HTTPResponse(body=io.BytesIO(body), preload_content=False)
        headers = HTTPHeaders()
        headers["ETag"], headers["Content-Length"] = '"0"', str(len(body))
        return AWSResponse(request.url, 200, headers, raw)

    client = boto3.client("s3", region_name="us-east-1")
    for operation in ("GetObject", "PutObject"):  # more specific than moto's handler: first
        client.meta.events.register_first(f"before-send.s3.{operation}", answer)
    return client


class NoDeadline:
    def remaining_seconds(self) -> float:
        return 900.0


def measure(precision: str, content: str, frames: int, rounds: int) -> list[str]:
    """One table row: the paths in rounds, and where a frame's CPU goes."""
    with mock_aws():
        folder = runtime_folder(precision)
        one_at_once = OnnxEmbedder(folder)
        embedder = OnnxEmbedder(folder, calls_at_once=available_cpus())
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        blobs = [encode(FRAMES[content](seed), "WEBP", quality=80) for seed in range(frames)]
        keys = [f"frames/{VIDEO}/frame_{index:06d}.webp" for index in range(len(blobs))]
        for key, blob in zip(keys, blobs, strict=True):
            s3.put_object(Bucket=BUCKET, Key=key, Body=blob)
        images = [decode_image(blob, max_pixels=10**8) for blob in blobs]
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        services = {
            frame_cache: BatchService(
                settings=BatchSettings(
                    bucket=BUCKET, table="videos", work_queue_url=queue, frame_cache=frame_cache
                ),
                s3=s3,
                queue=WorkQueue(sqs, queue),
                embedder=lambda: embedder,
            )
            for frame_cache in FRAME_CACHES
        }
        puts = dict.fromkeys(FRAME_CACHES, 0)  # the PUTs of one run of each

        batches = [images[start : start + IMAGE_BATCH] for start in range(0, len(images), IMAGE_BATCH)]
        calls = ThreadPoolExecutor(embedder.calls_at_once)

        def model_one_batch_at_once() -> None:
            for batch in batches:
                one_at_once.embed_images(batch)

        def model_side_by_side() -> None:
            list(calls.map(embedder.embed_images, batches))

        def end_to_end(frame_cache: str) -> None:
            counted: list[str] = []

            def count(params: dict[str, Any], **_: Any) -> None:
                counted.append(params["Key"])

            s3.meta.events.register("provide-client-params.s3.PutObject", count)
            request = VideoRequest(VIDEO, None, force=True)
            result = services[frame_cache].run(request, NoDeadline(), run_id="bench")
            s3.meta.events.unregister("provide-client-params.s3.PutObject", count)
            if result.embedded != frames or result.status != "complete":
                raise RuntimeError(f"the batch run did not embed every frame: {result.as_dict()}")
            puts[frame_cache] = len(counted)

        model_one_batch_at_once()  # warm-up
        model_side_by_side()
        samples = in_rounds(
            {
                "one": lambda: timed(model_one_batch_at_once),
                "side": lambda: timed(model_side_by_side),
                "full": lambda: timed(lambda: end_to_end("per-frame")),
                "packed": lambda: timed(lambda: end_to_end("packed")),
            },
            rounds,
        )
        faster_model = [
            min(one.wall, side.wall) for one, side in zip(samples["one"], samples["side"], strict=True)
        ]
        ratio = per_pair(faster_model, [full.wall for full in samples["full"]])
        packed_ratio = per_pair(faster_model, [packed.wall for packed in samples["packed"]])
        packed_over_full = per_pair(
            [full.wall for full in samples["full"]], [packed.wall for packed in samples["packed"]]
        )
        fps = {name: frames / median([sample.wall for sample in runs]) for name, runs in samples.items()}
        full_cpu_ms = median([sample.cpu for sample in samples["full"]]) * 1000 / frames
        kilobytes = sum(map(len, blobs)) // len(blobs) // 1024
        # Where a frame's CPU goes (core-milliseconds): nothing else can overlap the model when it
        # keeps every vCPU busy, so model / (model + the rest) estimates the best ratio here.
        model_ms = available_cpus() * 1000 / max(fps["one"], fps["side"])
        decode_ms = cpu_ms_per_frame(
            lambda: [decode_image(blob, max_pixels=10**8) for blob in blobs], len(blobs)
        )
        parsed = [parse_frame_key(key) for key in keys]
        vector = embedder.embed_images(images[:1])[0]

        def read_and_write(client: Any) -> None:
            for frame in parsed:
                client.get_object(Bucket=BUCKET, Key=frame.key)["Body"].read()
                CacheStore(client, BUCKET).write_frame(frame, vector, model=embedder.model_id)

        s3_ms = cpu_ms_per_frame(lambda: read_and_write(s3), len(blobs))
        threads = one_at_once.threads
    # botocore's own side, with no server behind it (out of moto, which sees every call)
    client_ms = cpu_ms_per_frame(lambda: read_and_write(without_server(blobs[0])), len(blobs))
    here = model_ms / (model_ms + decode_ms + s3_ms)
    elsewhere = model_ms / (model_ms + decode_ms + client_ms)
    return [
        f"{precision}, {content} ({kilobytes} KB)",
        f"{fps['one']:.1f} ({threads} threads)",
        f"{fps['side']:.1f}",
        f"{fps['full']:.1f}",
        f"**{ratio}**",
        f"{fps['packed']:.1f}",
        f"**{packed_ratio}**",
        f"{packed_over_full}",
        f"{puts['per-frame'] * 1000 // frames:,} / {puts['packed'] * 1000 // frames:,}",
        f"{full_cpu_ms:.0f}",
        f"{model_ms:.0f} / {decode_ms:.1f} / {s3_ms:.1f} / {client_ms:.1f}",
        f"{here:.2f} / {elsewhere:.2f}",
        load(),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", choices=("fp32", "int8"), nargs="+", default=["fp32", "int8"])
    parser.add_argument("--content", choices=tuple(FRAMES), nargs="+", default=["natural"])
    parser.add_argument("--write", action="store_true", help="keep the table in bench/results/batch.md")
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(variable, "bench")
    table = Table(
        f"Batch embedding: {args.frames} frames 640x360 WebP q80, ViT-B/32 random weights, "
        f"{args.rounds} rounds",
        ["precision, frames", "model alone, one batch at once (frames/s)",
         f"model alone, {available_cpus()} batches side by side, 1 thread each (frames/s)",
         "end to end (frames/s)",
         "end to end / the faster model alone (per round)",
         "end to end, frame_cache=packed (frames/s)", "packed / the faster model alone (per round)",
         "packed / per-frame speed (per round)",
         f"S3 PUTs per 1,000 frames (videos of {args.frames}): per-frame / packed",
         "end to end CPU ms per frame",
         "a frame's CPU ms: model / WebP decoding / S3 GET + .npy PUT on moto / botocore's side alone",
         "best ratio estimate: here / S3 elsewhere", "load"],
    )  # fmt: skip
    for precision in args.precision:
        for content in args.content:
            table.rows.append(measure(precision, content, args.frames, args.rounds))
            print(table.rows[-1])
    text = document(
        "bench_batch",
        "The batch function's service on moto S3 in-process (list, read, decode, preprocess, model, `.npy` "
        "and packed writes; with `frame_cache=packed` the packed write only) against the model alone on "
        "the same frames, alternating in rounds "
        "(`python -m bench.bench_batch`; the module's docstring says what each column runs).",
        [table],
    )
    print(text)
    if args.write:
        print(f"written to {write('batch', text)}")


if __name__ == "__main__":
    main()
