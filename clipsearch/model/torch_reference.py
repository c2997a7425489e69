"""The CLIP model: load once from a `save_pretrained` folder, embed texts and images (imports torch)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL.Image import Image
from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

from clipsearch.vectors import Vector

IMAGE_BATCH = 32  # bounds memory; larger batches gain little on CPU


def available_cpus() -> int:
    """The vCPUs this process may use (Lambda: about one per 1,769 MB of memory)."""
    return len(os.sched_getaffinity(0))


class ClipEmbedder:
    """L2-normalised CLIP embeddings in float32. Load it once per container."""

    def __init__(self, model_dir: str | Path, *, threads: int | None = None) -> None:
        torch.set_num_threads(threads or available_cpus())
        # local_files_only: never reach for the Hub at run time, whatever the environment says.
        self.model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
        self.model.eval()  # type: ignore[no-untyped-call]
        self.tokenizer = CLIPTokenizer.from_pretrained(model_dir, local_files_only=True)
        # The PIL processor: the same preprocessing without torchvision in the image.
        self.image_processor = CLIPImageProcessorPil.from_pretrained(model_dir, local_files_only=True)
        config: Any = self.model.config  # CLIPConfig; its sub-config types are loose
        self.dim: int = int(config.projection_dim)
        self.max_tokens: int = int(config.text_config.max_position_embeddings)
        # fetch_model.py records the Hub id; a hand-made folder is named by its directory.
        self.model_id: str = getattr(config, "source_model_id", None) or Path(model_dir).name

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> Vector:
        # Pad to the longest item, not to 77 tokens (4x faster for short queries); truncate longer text.
        inputs = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        return self._normalised(self.model.get_text_features(**inputs).pooler_output)

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image]) -> Vector:
        chunks = []
        for start in range(0, len(images), IMAGE_BATCH):
            pixels = self.image_processor(list(images[start : start + IMAGE_BATCH]), return_tensors="pt")
            features = self.model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
            chunks.append(self._normalised(features))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    @staticmethod
    def _normalised(features: torch.Tensor) -> Vector:
        return torch.nn.functional.normalize(features, p=2, dim=1).numpy().astype(np.float32)


@functools.cache
def load_embedder(model_dir: str) -> ClipEmbedder:
    """This container's model, loaded once on first use: not at import, because Lambda gives the
    init phase only 10 s and restarts it inside the invocation when it runs over."""
    return ClipEmbedder(model_dir)
