"""The demo CLIP: a small CLIP trained here, contrastively, on the demo's drawn scenes and their
captions. It is the local system's model when there is no real one, so the demo's rankings mean
something, for these five scenes and nothing else. Saved with `save_pretrained` like a real model
folder, so the whole real path runs it: the ONNX export (and its int8 gate), the runtime's tokenizer
and preprocessing.

About 200k parameters (64 px images in 8 px patches, 2 layers of width 64 per tower, 32-d
embeddings), trained in 25-35 s on one thread of 2 shared vCPUs. Deterministic: fixed seeds, torch's
deterministic algorithms, one thread; the same code on the same torch gives the same files.
`models.demo_model` trains it once and keeps it under `fingerprint()`.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

from local import sample_frames, sample_video, tiny_clip

IMAGE_SIZE: Final = 64
PROJECTION_DIM: Final = 32
SEED: Final = 0
STEPS: Final = 200
BATCH: Final = 100  # picture-caption pairs a step
POOL: Final = 400  # pictures drawn per scene before training; each step picks from them
LEARNING_RATE: Final = 2e-3
WARMUP: Final = 20  # steps of linear warm-up, then a cosine decay to 0

# Each scene's captions: one concept per scene, said several ways.
CAPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "bicycle": (
        "a man riding a bicycle",
        "a cyclist on a road",
        "a person riding a bike",
        "a bicycle on the road",
        "someone cycling",
    ),
    "boat": (
        "a boat on the water",
        "a sailboat at sea",
        "a sailing boat",
        "a ship on the sea",
        "a boat with a white sail",
    ),
    "street": (
        "a city street with cars",
        "buildings in a city",
        "a car driving down the street",
        "houses with lit windows",
        "a city at dusk",
    ),
    "park": (
        "a park with trees",
        "a dog in the park",
        "trees on green grass",
        "a sunny day in the park",
        "a dog running on the grass",
    ),
    "night": (
        "a starry night sky",
        "the moon at night",
        "stars and the moon",
        "the sky at night",
        "a dark night with stars",
    ),
}


@dataclass(frozen=True)
class Drawing:
    """A scene's picture `t` seconds in, for t in [0, seconds)."""

    draw: Callable[[float], Image.Image]
    seconds: float


def _stills(draw: Callable[[int], Image.Image]) -> Drawing:
    """One of local/sample_frames.py's videos: a frame for each whole second."""
    return Drawing(lambda t: draw(int(t)), sample_frames.FRAMES_PER_VIDEO)


# Every drawing of each scene: its shot in the demo's uploaded video, and its sample video if any.
DRAWINGS: Final[dict[str, tuple[Drawing, ...]]] = {
    scene: (
        Drawing(sample_video.SCENES[scene], sample_video.DEMO_SHOT_SECONDS),
        *(_stills(draw) for video_id, draw in sample_frames.VIDEOS.items() if video_id == f"sample-{scene}"),
    )
    for scene in CAPTIONS
}


def fingerprint() -> str:
    """A hash of the code that makes the model (this module, the scenes it draws, the tokenizer files
    it writes): the cache's key, so changed code trains anew."""
    digest = hashlib.sha256()
    for module in (sys.modules[__name__], sample_video, sample_frames, tiny_clip):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def view(scene: str, rng: np.random.Generator) -> Image.Image:
    """A random training picture of `scene`: one of its drawings at a random time, cropped to 75-100 %
    of each side, maybe mirrored, brightness, contrast and colour jittered, maybe lossy-coded."""
    drawings = DRAWINGS[scene]
    drawing = drawings[int(rng.integers(len(drawings)))]
    image = drawing.draw(float(rng.uniform(0, drawing.seconds)))
    width, height = (int(side * rng.uniform(0.75, 1.0)) for side in image.size)
    left, top = int(rng.integers(image.width - width + 1)), int(rng.integers(image.height - height + 1))
    image = image.crop((left, top, left + width, top + height))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(float(rng.uniform(0.75, 1.25)))
    if rng.random() < 0.5:
        coded = io.BytesIO()
        image.save(coded, format=str(rng.choice(["WEBP", "JPEG"])), quality=int(rng.integers(40, 95)))
        image = Image.open(coded).convert("RGB")
    return image


def learn_merges(words: Iterable[str]) -> list[str]:
    """BPE merges (Sennrich et al.) that make each word one token: the most frequent adjacent pair
    first (ties: the first in sorted order), while any word has two symbols. Other words still
    tokenize, into smaller pieces."""
    pieces = {word: [*word[:-1], f"{word[-1]}</w>"] for word in sorted(set(words))}
    merges: list[str] = []
    while pairs := Counter(pair for symbols in pieces.values() for pair in pairwise(symbols)):
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(" ".join(best))
        for word, symbols in pieces.items():
            merged: list[str] = []
            for symbol in symbols:
                if merged and (merged[-1], symbol) == best:
                    merged[-1] += symbol
                else:
                    merged.append(symbol)
            pieces[word] = merged
    return merges


def train_demo_clip(target: Path) -> Path:
    """Train the demo CLIP and save it (float32) with its processor to `target`."""
    words = (word for captions in CAPTIONS.values() for caption in captions for word in caption.split())
    tokens = tiny_clip.save_processor(target, learn_merges(words), image_size=IMAGE_SIZE)
    width = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={"max_position_embeddings": 77, **width, **tokens},
        vision_config={"image_size": IMAGE_SIZE, "patch_size": 8, **width},
        projection_dim=PROJECTION_DIM,
    )
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(SEED)
        rng = np.random.default_rng(SEED)
        model = CLIPModel(config)
        # transformers' tokenizer and image processor, the reference the runtime's own must match
        processor = CLIPImageProcessorPil.from_pretrained(target, local_files_only=True)
        pictures = torch.stack(
            [
                processor(images=[view(scene, rng) for _ in range(POOL)], return_tensors="pt")["pixel_values"]
                for scene in CAPTIONS
            ]
        )
        _fit(model, CLIPTokenizer.from_pretrained(target, local_files_only=True), pictures, rng)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    model.save_pretrained(target)
    return target


def _fit(model: CLIPModel, tokenizer: Any, pictures: torch.Tensor, rng: np.random.Generator) -> None:
    """CLIP's symmetric InfoNCE over batches of (picture, caption) of random scenes (`pictures`: scene,
    pool, channels, height, width). A batch holds each scene many times: every pair of the same scene
    is a positive, the targets spread evenly over a row's positives."""
    captions = list(CAPTIONS.values())
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.05)

    def rate(step: int) -> float:
        if step < WARMUP:
            return (step + 1) / WARMUP
        return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (STEPS - WARMUP)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    for _ in range(STEPS):
        scenes = rng.integers(len(captions), size=BATCH)
        texts = [captions[scene][int(rng.integers(len(captions[scene])))] for scene in scenes]
        tokens = tokenizer(texts, padding=True, return_tensors="pt")
        chosen = pictures[torch.as_tensor(scenes), torch.as_tensor(rng.integers(POOL, size=BATCH))]
        logits = model(**tokens, pixel_values=chosen).logits_per_image
        same = torch.as_tensor(scenes[:, None] == scenes[None, :], dtype=torch.float32)
        targets = same / same.sum(dim=1, keepdim=True)  # a text row's too: same scene, same count
        loss = (
            torch.nn.functional.cross_entropy(logits, targets)
            + torch.nn.functional.cross_entropy(logits.T, targets)
        ) / 2
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
    model.eval()  # type: ignore[no-untyped-call]
