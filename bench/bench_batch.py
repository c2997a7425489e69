"""Batch embedding throughput: end to end (S3 read + decode + model + .npy writes + packed object,
on moto S3 in-process) against the model alone on the same frames, in one run, as a ratio.

Full-size ViT-B/32 with random weights, run as the images run it (ONNX Runtime, the folder
`clipsearch.export_onnx` writes, fp32 or int8); frames are 640x360 WebP at quality 80 like the
pipeline's. Decoding WebP costs CPU in proportion to the bytes, so the frames' content matters:
`natural` (default) frames have a natural image's 1/f^a spectrum (luminance-led colour, a = 2.6),
calibrated to the size of real photos (two real 640x360 photos at q80: 34 and 54 KB; these 49 KB);
`noise` frames (independent random pixels, 154 KB) are the decoder's worst case.

    .venv/bin/python -m bench.bench_batch [--frames 64] [--repeats 3] [--precision int8] [--content noise]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import boto3
import numpy as np
from moto import mock_aws
from PIL import Image

from bench.bench_clip import runtime_folder
from clipsearch.batch_request import VideoRequest
from clipsearch.batch_service import BatchService, BatchSettings
from clipsearch.images import decode_image
from clipsearch.onnx_model import IMAGE_BATCH, OnnxEmbedder
from clipsearch.work_queue import WorkQueue
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


class NoDeadline:
    def remaining_seconds(self) -> float:
        return 900.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    parser.add_argument("--content", choices=tuple(FRAMES), default="natural")
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(variable, "bench")

    with mock_aws():
        embedder = OnnxEmbedder(runtime_folder(args.precision))
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        blobs = [encode(FRAMES[args.content](seed), "WEBP", quality=80) for seed in range(args.frames)]
        for index, blob in enumerate(blobs):
            s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_{index:06d}.webp", Body=blob)
        images = [decode_image(blob, max_pixels=10**8) for blob in blobs]
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        service = BatchService(
            settings=BatchSettings(bucket=BUCKET, table="videos", work_queue_url=queue),
            s3=s3,
            queue=WorkQueue(sqs, queue),
            embedder=lambda: embedder,
        )

        def model_only() -> None:
            for start in range(0, len(images), IMAGE_BATCH):
                embedder.embed_images(images[start : start + IMAGE_BATCH])

        def end_to_end() -> None:
            result = service.run(VideoRequest(VIDEO, None, force=True), NoDeadline())
            if result.embedded != args.frames or result.status != "complete":
                raise RuntimeError(f"the batch run did not embed every frame: {result.as_dict()}")

        model_only()  # warm-up
        model_s: list[float] = []
        full_s: list[float] = []
        for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
            for call, samples in ((model_only, model_s), (end_to_end, full_s)):
                started = time.perf_counter()
                call()
                samples.append(time.perf_counter() - started)
        model_fps = args.frames / statistics.median(model_s)
        full_fps = args.frames / statistics.median(full_s)
        kilobytes = sum(map(len, blobs)) // len(blobs) // 1024
        print(
            f"{args.frames} {args.content} frames 640x360 WebP q80 ({kilobytes} KB each),"
            f" ViT-B/32 random weights, ONNX {args.precision}, medians of {args.repeats} runs"
        )
        print(f"model only (decoded images)      {model_fps:7.1f} frames/s")
        print(f"end to end (S3+decode+model+put) {full_fps:7.1f} frames/s")
        print(f"end to end / model only          {full_fps / model_fps:7.2f}")


if __name__ == "__main__":
    main()
