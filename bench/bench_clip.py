"""CLIP embedding speed: our ClipEmbedder vs the guide's code path, in one run, as ratios.

Full-size ViT-B/32 architecture (CLIPConfig defaults) with random weights: the same shapes and cost
as openai/clip-vit-base-patch32. The tokenizer is the tests' tiny byte-level one, so a query has
more tokens than the real BPE would give it (about 3x); both paths tokenize alike.

    .venv/bin/python -m bench.bench_clip [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL.Image import Image
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

from clipsearch.model import ClipEmbedder
from local.tiny_clip import build_tiny_clip
from tests.sample_images import picture

QUERY = "a man riding a bicycle"


def build_full_size(target: Path) -> Path:
    build_tiny_clip(target / "tokenizer")  # borrow its tokenizer files
    tokenizer = CLIPTokenizer.from_pretrained(target / "tokenizer")
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(target)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(target)  # ViT-B/32: 224 px, patch 32, 512-d projection
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model_dir = build_full_size(Path(folder))
        ours = ClipEmbedder(model_dir)
        guide = GuidePath(model_dir)
        one = [picture(1, (640, 360))]
        batch = [picture(seed, (640, 360)) for seed in range(32)]
        rows = [
            (
                "text query latency (ms)",
                1000,
                lambda: ours.embed_texts([QUERY]),
                lambda: guide.texts([QUERY]),
                args.repeats,
            ),
            (
                "images/s at batch 1",
                None,
                lambda: ours.embed_images(one),
                lambda: guide.images(one),
                args.repeats,
            ),
            (
                "images/s at batch 32",
                None,
                lambda: ours.embed_images(batch),
                lambda: guide.images(batch),
                max(3, args.repeats // 5),
            ),
        ]
        print(f"threads={torch.get_num_threads()}  ViT-B/32, random weights  medians of {args.repeats} runs")
        print(f"{'measure':<26}{'ours':>10}{'guide':>10}{'ours vs guide':>16}")
        for name, scale, our_call, guide_call, repeats in rows:
            our_s, guide_s = median_seconds((our_call, guide_call), repeats)
            if scale:  # latency: lower is better, speed-up = guide / ours
                print(f"{name:<26}{our_s * scale:>10.1f}{guide_s * scale:>10.1f}{guide_s / our_s:>15.2f}x")
            else:
                count = 1 if "batch 1" in name else len(batch)
                print(f"{name:<26}{count / our_s:>10.1f}{count / guide_s:>10.1f}{guide_s / our_s:>15.2f}x")


if __name__ == "__main__":
    main()
