"""A tiny CLIP model + processor, built in code and saved like a real one (no Hub access)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

IMAGE_SIZE = 32
PROJECTION_DIM = 16


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))


def save_processor(target: Path, merges: Sequence[str], *, image_size: int) -> dict[str, int]:
    """Save a CLIPProcessor to `target` as a real model folder holds one: a byte-level BPE tokenizer
    (every byte, alone and word-final, the `merges` ("a b" pairs, first applied first) and CLIP's
    special tokens; vocab.json + merges.txt, which CLIPTokenizer loads from the folder) and CLIP's
    image steps at `image_size` px. The config's special token ids."""
    target.mkdir(parents=True, exist_ok=True)
    characters = list(_bytes_to_unicode().values())
    tokens = [*characters, *(f"{c}</w>" for c in characters), *("".join(m.split()) for m in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    (target / "vocab.json").write_text(json.dumps(vocab))
    (target / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    # local_files_only: never the Hub, and the same tokenizer_config.json whatever HF_HUB_OFFLINE says
    tokenizer = CLIPTokenizer.from_pretrained(target, local_files_only=True)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)  # type: ignore[no-untyped-call]
    processor.save_pretrained(target)
    return {
        "vocab_size": len(vocab),
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"],
    }


def build_tiny_clip(target: Path, *, seed: int = 0) -> Path:
    """Save a randomly initialised CLIP (16-d projection, 32 px images) and its processor to `target`."""
    torch.manual_seed(seed)
    merges = ["a n", "an d</w>", "t h", "th e</w>", "i n", "in g</w>"]
    tokens = save_processor(target, merges, image_size=IMAGE_SIZE)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={"max_position_embeddings": 77, **small, **tokens},
        vision_config={"image_size": IMAGE_SIZE, "patch_size": 8, **small},
        projection_dim=PROJECTION_DIM,
    )
    CLIPModel(config).save_pretrained(target)
    return target
