"""What the CLIP and batch services need of a model (ClipEmbedder; the tests' tiny one too)."""

from __future__ import annotations

from typing import Protocol

from PIL.Image import Image

from clipsearch.vectors import Vector


class Embedder(Protocol):
    dim: int
    model_id: str

    def embed_texts(self, texts: list[str]) -> Vector: ...
    def embed_images(self, images: list[Image]) -> Vector: ...
