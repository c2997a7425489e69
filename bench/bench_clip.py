"""CLIP runtime: the ONNX path the images run (fp32 and int8) against the guide's torch path, in one
run, as ratios: cold start, text query latency, images/s at batch 1 and 32, installed runtime size.

Full-size ViT-B/32 architecture (CLIPConfig defaults) with random weights: the same shapes and cost
as openai/clip-vit-base-patch32, converted with `clipsearch.model.export_onnx` like the images do (int8
through its probe-set gate, whose numbers it prints). The tokenizer is the tests' tiny byte-level
one, so a query has more tokens than the real BPE would give it (about 3x); both paths tokenize
alike. The model and its exports are kept in .local/bench/ (delete it to rebuild).

    .venv/bin/python -m bench.bench_clip [--repeats 15]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from packaging.requirements import Requirement
from PIL.Image import Image
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

from clipsearch.model.export_onnx import GateFailed, compare, export
from clipsearch.model.onnx_model import OnnxEmbedder, available_cpus
from clipsearch.model.probe_set import probe_images, probe_texts
from local.tiny_clip import build_tiny_clip
from tests.sample_images import picture

QUERY = "a man riding a bicycle"
BENCH = Path(__file__).resolve().parent.parent / ".local" / "bench"
ROOT = Path(__file__).resolve().parent.parent


def build_full_size(target: Path) -> Path:
    if (target / "config.json").is_file():
        return target
    build_tiny_clip(target / "tokenizer")  # borrow its tokenizer files
    tokenizer = CLIPTokenizer.from_pretrained(target / "tokenizer")
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(target)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(target)  # ViT-B/32: 224 px, patch 32, 512-d projection
    return target


def runtime_folder(precision: str) -> Path:
    """The full-size model's runtime folder of this precision (exported once, kept in .local/bench)."""
    target = BENCH / f"vit-b32-random-{precision}"
    if not (target / "runtime.json").is_file():
        export(build_full_size(BENCH / "vit-b32-random"), target, precision=precision)
    return target


class GuidePath:
    """The guide's app.py per request: processor call, then the model, under torch.no_grad()."""

    def __init__(self, model_dir: Path) -> None:
        self.model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.processor = CLIPProcessor.from_pretrained(model_dir)

    def texts(self, items: list[str]) -> torch.Tensor:
        inputs = self.processor(text=items, return_tensors="pt", padding=True)
        with torch.no_grad():
            features = self.model.get_text_features(**inputs).pooler_output
        return torch.nn.functional.normalize(features, p=2, dim=1)

    def images(self, images: list[Image]) -> torch.Tensor:
        inputs = self.processor(images=images, return_tensors="pt", padding=True)
        with torch.no_grad():
            features = self.model.get_image_features(**inputs).pooler_output
        return torch.nn.functional.normalize(features, p=2, dim=1)


def median_seconds(calls: tuple[Callable[[], object], ...], repeats: int) -> list[float]:
    """Median time of each call; runs alternate so that machine noise hits both alike."""
    timings: list[list[float]] = [[] for _ in calls]
    for call in calls:
        call()  # warm-up
    for _ in range(repeats):
        for call, samples in zip(calls, timings, strict=True):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
    return [statistics.median(samples) for samples in timings]


GUIDE_COLD = """
import sys, time
from transformers import CLIPModel, CLIPProcessor
import torch
model = CLIPModel.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
processor = CLIPProcessor.from_pretrained(sys.argv[1])
with torch.no_grad():
    model.get_text_features(**processor(text=[sys.argv[2]], return_tensors="pt", padding=True))
"""
ONNX_COLD = """
import sys
sys.path.insert(0, sys.argv[3])
from clipsearch.model.onnx_model import load_embedder
load_embedder(sys.argv[1]).embed_texts([sys.argv[2]])
"""


def cold_start_seconds(script: str, model_dir: Path) -> float:
    """A new Python process until its first text embedding (interpreter start included)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(model_dir), QUERY, str(ROOT)], check=True)
    return time.perf_counter() - started


# What the model images' final stage deletes after installing (lambda_clip/Dockerfile; a test keeps
# the two lists equal): never imported at run time.
TRIMMED = (
    "numpy/*/tests",
    "numpy/tests",
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
)


def installed_mb(
    requirement_lines: list[str], *, follow: bool = True, trimmed: tuple[str, ...] = ()
) -> float:
    """Installed size of these distributions (pip's RECORD files), with everything they require
    unless `follow` is off (a file the image installs with --no-deps)."""
    seen: set[str] = set()
    pending = [Requirement(line).name for line in requirement_lines]
    total = 0
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total += sum(
            (file.size or 0)
            for file in dist.files or []
            if not any(fnmatch.fnmatch(str(file), f"{pattern}/*") for pattern in trimmed)
        )
        for line in (dist.requires or []) if follow else []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return total / 1e6


def requirement_names(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    source = build_full_size(BENCH / "vit-b32-random")
    fp32_dir = runtime_folder("fp32")
    try:
        int8_dir = runtime_folder("int8")
    except GateFailed as error:
        sys.exit(f"int8 did not pass its gate on the full-size model: {error}")
    gate = json.loads((int8_dir / "runtime.json").read_text())["gate"]
    print(f"int8 gate on the probe set (vs fp32 ONNX): {gate}")

    cold_guide: list[float] = []
    cold_ours: list[float] = []
    for _ in range(3):  # alternate, so that machine noise hits both alike
        cold_guide.append(cold_start_seconds(GUIDE_COLD, source))
        cold_ours.append(cold_start_seconds(ONNX_COLD, fp32_dir))

    fp32, int8, guide = OnnxEmbedder(fp32_dir), OnnxEmbedder(int8_dir), GuidePath(source)
    texts, probe = probe_texts(), probe_images()
    torch_vectors = torch.cat([guide.texts(texts), guide.images(probe)]).numpy()
    to_torch = compare(torch_vectors, _both(fp32, texts, probe))
    int8_to_torch = compare(torch_vectors, _both(int8, texts, probe))
    print(f"ONNX fp32 vs torch on the probe set: {to_torch.describe()}")
    print(f"ONNX int8 vs torch on the probe set: {int8_to_torch.describe()}")

    one = [picture(1, (640, 360))]
    batch = [picture(seed, (640, 360)) for seed in range(32)]
    few = max(3, args.repeats // 5)
    text_s = median_seconds(
        (lambda: fp32.embed_texts([QUERY]), lambda: int8.embed_texts([QUERY]), lambda: guide.texts([QUERY])),
        args.repeats,
    )
    one_s = median_seconds(
        (lambda: fp32.embed_images(one), lambda: int8.embed_images(one), lambda: guide.images(one)),
        args.repeats,
    )
    batch_s = median_seconds(
        (lambda: fp32.embed_images(batch), lambda: int8.embed_images(batch), lambda: guide.images(batch)), few
    )
    # The batch function's way: one single-threaded batch of 32 per vCPU at once (calls_at_once).
    cpus = available_cpus()
    side_by_side = [OnnxEmbedder(folder, calls_at_once=cpus) for folder in (fp32_dir, int8_dir)]
    calls = ThreadPoolExecutor(cpus)

    def all_cpus(embedder: OnnxEmbedder) -> Callable[[], object]:
        return lambda: list(calls.map(embedder.embed_images, [batch] * cpus))

    side_s = median_seconds(tuple(map(all_cpus, side_by_side)), few)
    runtime = requirement_names(ROOT / "requirements-model.txt")
    untrimmed_mb = installed_mb(runtime, follow=False)  # the final stage: pip install --no-deps
    runtime_mb = installed_mb(runtime, follow=False, trimmed=TRIMMED)  # and what it deletes
    # The guide's image: torch and transformers in place of onnxruntime and tokenizers.
    guide_mb = installed_mb(
        ["torch", "transformers", "pillow", "numpy", "boto3", "aws-lambda-powertools", "aws-xray-sdk"]
    )

    print(f"threads: ONNX {fp32.threads}, torch {torch.get_num_threads()}; ViT-B/32 random weights")
    print(
        f"{'measure':<40}{'onnx fp32':>11}{'onnx int8':>11}{'guide':>10}{'fp32/guide':>12}{'int8/guide':>12}"
    )

    def row(name: str, ours32: float, ours8: float, theirs: float) -> None:
        values = f"{ours32:>11.3f}{ours8:>11.3f}{theirs:>10.3f}"
        print(f"{name:<40}{values}{ours32 / theirs:>11.2f}x{ours8 / theirs:>11.2f}x")

    cold = statistics.median(cold_ours), statistics.median(cold_guide)
    row("cold start, new process -> 1st text (s)", cold[0], float("nan"), cold[1])
    row("one short text query (ms)", text_s[0] * 1000, text_s[1] * 1000, text_s[2] * 1000)
    row("images/s at batch 1", 1 / one_s[0], 1 / one_s[1], 1 / one_s[2])
    row("images/s at batch 32", 32 / batch_s[0], 32 / batch_s[1], 32 / batch_s[2])
    row(
        f"  {cpus} batches of 32 at once, 1 thread each",
        32 * cpus / side_s[0],
        32 * cpus / side_s[1],
        32 / batch_s[2],
    )
    row("installed runtime packages (MB)", runtime_mb, runtime_mb, guide_mb)
    row("  the same before the final stage trims", untrimmed_mb, untrimmed_mb, guide_mb)


def _both(embedder: OnnxEmbedder, texts: list[str], images: list[Image]) -> np.ndarray:
    return np.concatenate([embedder.embed_texts(texts), embedder.embed_images(images)])


if __name__ == "__main__":
    main()
