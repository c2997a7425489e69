"""What the CLIP and batch services need of a model (ClipEmbedder; the tests' tiny one too)."""

from __future__ import annotations

from typing import Any, Protocol

from PIL.Image import Image

from clipsearch.vectors import Vector


class Embedder(Protocol):
    dim: int
    model_id: str
    calls_at_once: int  # embed_prepared calls that may run side by side, each on its share of the vCPUs

    def embed_texts(self, texts: list[str]) -> Vector: ...
    def embed_images(self, images: list[Image]) -> Vector: ...

    # The batch pipeline prepares images on its reader threads, ahead of the model (resize, crop,
    # normalise), so that the model's thread only runs the model.
    def prepare_image(self, image: Image) -> Any: ...
    def embed_prepared(self, prepared: list[Any]) -> Vector: ...
