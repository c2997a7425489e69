"""ClipEmbedder against transformers' own forward pass, through the real loading path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPModel, CLIPProcessor

from clipsearch.model.fetch_model import fetch
from clipsearch.model.torch_reference import ClipEmbedder
from local.tiny_clip import PROJECTION_DIM
from tests.sample_images import picture

TEXTS = ["a man riding a bicycle", "hi", "the cat and the dog sleeping in the sun on a long afternoon"]


@pytest.fixture(scope="module")
def embedder(tiny_model_dir):
    return ClipEmbedder(tiny_model_dir)


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """transformers' CLIPModel forward, as the model card uses it."""
    model = CLIPModel.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    processor = CLIPProcessor.from_pretrained(tiny_model_dir)

    def run(texts, images):
        inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
        with torch.no_grad():
            output = model(**inputs)
        return output.text_embeds.numpy(), output.image_embeds.numpy()

    return run


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_text_embeddings_match_the_reference_forward(embedder, reference):
    images = [picture(1)]
    expected, _ = reference(TEXTS, images)
    actual = embedder.embed_texts(TEXTS)
    assert actual.shape == (3, PROJECTION_DIM)
    assert actual.dtype == np.float32
    assert cosines(actual, expected).min() >= 0.99999


def test_each_text_embeds_the_same_alone_or_in_a_padded_batch(embedder):
    batch = embedder.embed_texts(TEXTS)
    alone = np.stack([embedder.embed_texts([text])[0] for text in TEXTS])
    assert cosines(batch, alone).min() >= 0.99999


def test_image_embeddings_match_the_reference_forward(embedder, reference):
    images = [picture(seed, size) for seed, size in [(1, (48, 40)), (2, (32, 32)), (3, (100, 20))]]
    _, expected = reference(["x"], images)
    actual = embedder.embed_images(images)
    assert cosines(actual, expected).min() >= 0.99999


def test_embeddings_are_unit_length(embedder):
    vectors = np.concatenate([embedder.embed_texts(TEXTS), embedder.embed_images([picture(4)])])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_text_beyond_77_tokens_is_truncated_not_an_error(embedder):
    long_text = "a man riding a bicycle " * 200
    vector = embedder.embed_texts([long_text])
    assert vector.shape == (1, PROJECTION_DIM)
    # Everything after the window is ignored.
    assert cosines(vector, embedder.embed_texts([long_text + "and a dragon"])).min() >= 0.99999


def test_dim_and_model_id_come_from_the_saved_model(embedder, tiny_model_dir):
    assert embedder.dim == PROJECTION_DIM
    assert embedder.model_id == tiny_model_dir.name


def test_fetch_model_saves_float32_and_records_the_source(tiny_model_dir, tmp_path):
    # GIVEN a half-precision copy, as some checkpoints are published
    half = tmp_path / "half"
    CLIPModel.from_pretrained(tiny_model_dir, dtype=torch.float16).save_pretrained(half)
    CLIPProcessor.from_pretrained(tiny_model_dir).save_pretrained(half)
    # WHEN the image build step fetches it
    fetch(str(half), str(tmp_path / "baked"))
    # THEN the baked model is float32 and knows where it came from
    baked = ClipEmbedder(tmp_path / "baked")
    assert baked.model.dtype == torch.float32
    assert baked.model_id == str(half)


def test_torch_uses_every_cpu_the_function_gets(tiny_model_dir, monkeypatch):
    monkeypatch.setattr("clipsearch.model.torch_reference.available_cpus", lambda: 3)
    previous = torch.get_num_threads()
    try:
        ClipEmbedder(tiny_model_dir)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_fetch_model_reads_a_hub_id_at_its_pinned_revision_and_refuses_an_unpinned_one(monkeypatch, tmp_path):
    """The same commit converts the same weights: the Hub's files at one commit, never `main`."""
    from clipsearch.model import fetch_model

    asked: list[tuple[str, str | None]] = []

    class Stop(Exception):
        pass

    def from_pretrained(source, **options):
        asked.append((source, options.get("revision")))
        raise Stop

    monkeypatch.setattr("clipsearch.model.fetch_model.CLIPModel.from_pretrained", from_pretrained)
    with pytest.raises(Stop):
        fetch_model.fetch("openai/clip-vit-base-patch32", str(tmp_path / "out"))
    assert asked == [("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")]
    with pytest.raises(ValueError, match="no pinned Hub revision"):
        fetch_model.fetch("openai/clip-vit-large-patch14", str(tmp_path / "out"))
