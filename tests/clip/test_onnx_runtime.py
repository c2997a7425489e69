"""The ONNX runtime (clipsearch/model/onnx_model.py, clipsearch/model/export_onnx.py) against
transformers' own processor, tokenizer and forward pass, on the tests' tiny model converted once
per session."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

from clipsearch.model import export_onnx
from clipsearch.model.export_onnx import GateFailed, export
from clipsearch.model.onnx_model import RUNTIME_FORMAT, ImagePreprocessor, OnnxEmbedder, load_embedder
from clipsearch.model.probe_set import probe_images, probe_texts
from local.tiny_clip import PROJECTION_DIM
from tests.sample_images import picture

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "",
    "a",
    "a man riding a bicycle",
    "A MAN   Riding\ta\nBICYCLE  ",
    "naïve café — 🚲 日本語 ﬁ Ωmega",
    "the cat and the dog " * 60,  # far past the 77-token window
    "x" * 2000,
]


def awkward_images() -> dict[str, Image.Image]:
    base = picture(7, (300, 200))
    rgba = picture(8, (64, 48)).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))))
    palette = picture(9, (40, 40)).convert("P")
    palette.info["transparency"] = 0
    return {
        "tiny 1x1": picture(1, (1, 1)),
        "tiny 3x2": picture(2, (3, 2)),
        "huge 4000x3000": picture(3, (4000, 3000)),
        "odd aspect 1000x7": picture(4, (1000, 7)),
        "odd aspect 5x800": picture(5, (5, 800)),
        "square crop size": picture(6, (32, 32)),
        "RGBA": rgba,
        "LA": base.convert("LA"),
        "CMYK": base.convert("CMYK"),
        "grey L": base.convert("L"),
        "1-bit": base.convert("1"),
        "palette with transparency": palette,
    }


@pytest.fixture(scope="module")
def embedder(tiny_runtime_dir) -> OnnxEmbedder:
    return OnnxEmbedder(tiny_runtime_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir) -> CLIPModel:
    return CLIPModel.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_the_runtime_folder_holds_both_towers_tokenizer_preprocessor_and_metadata(
    tiny_runtime_dir, tiny_model_dir
):
    names = {path.name for path in tiny_runtime_dir.iterdir()}
    towers = {"text.onnx", "text.onnx.data", "vision.onnx", "vision.onnx.data"}
    assert names == towers | {"tokenizer.json", "preprocessor_config.json", "runtime.json"}
    runtime = json.loads((tiny_runtime_dir / "runtime.json").read_text())
    assert runtime["format"] == RUNTIME_FORMAT
    assert runtime["model_id"] == tiny_model_dir.name  # the id the torch path gave (ClipEmbedder)
    assert runtime["dim"] == PROJECTION_DIM
    assert runtime["max_tokens"] == 77
    assert runtime["precision"] == "fp32"


def operators(tower: Path) -> set[tuple[str, str]]:
    return {
        (node.domain or "ai.onnx", node.op_type)
        for node in onnx.load(tower, load_external_data=False).graph.node
    }


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_towers_are_saved_optimised_and_opened_without_optimising_again(
    precision, tiny_runtime_dir, int8_dir
):
    folder = tiny_runtime_dir if precision == "fp32" else int8_dir
    for tower in ("text", "vision"):
        graph = onnx.load(folder / f"{tower}.onnx", load_external_data=False).graph
        # ONNX Runtime's fusions are in the saved graph (its contrib operators), the weights beside it.
        assert any(node.domain == "com.microsoft" for node in graph.node)
        inline = [weight for weight in graph.initializer if weight.data_location != onnx.TensorProto.EXTERNAL]
        assert all(len(weight.raw_data) < 1024 for weight in inline)  # the small ones only
        assert len(graph.initializer) > len(inline)
    embedder = OnnxEmbedder(folder)
    for session in (embedder.text, embedder.vision):
        level = session.get_session_options().graph_optimization_level
        assert level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_patch_embedding_is_a_matmul_so_int8_never_runs_conv_integer(
    precision, tiny_runtime_dir, int8_dir
):
    folder = tiny_runtime_dir if precision == "fp32" else int8_dir
    ops = {op for _, op in operators(folder / "vision.onnx")}
    assert not ops & {"Conv", "ConvInteger"}
    if precision == "int8":
        assert ops & {"DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


def test_an_optimised_tower_that_answers_differently_fails_the_export(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export_onnx, "OPTIMIZED_MIN_COSINE", 1.01)  # a check nothing can pass
    with pytest.raises(export_onnx.OptimizedGraphDiffers, match="optimised text tower differs"):
        export(tiny_model_dir, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # no folder, no staging left behind


def test_a_folder_of_another_runtime_format_is_refused(tiny_runtime_dir, tmp_path):
    import shutil

    older = shutil.copytree(tiny_runtime_dir, tmp_path / "older")
    runtime = json.loads((older / "runtime.json").read_text())
    (older / "runtime.json").write_text(json.dumps(runtime | {"format": RUNTIME_FORMAT - 1}))
    with pytest.raises(ValueError, match="convert the model again"):
        OnnxEmbedder(older)


def test_token_ids_equal_transformers_tokenizer(embedder, tiny_model_dir):
    tokenizer = CLIPTokenizer.from_pretrained(tiny_model_dir)
    expected = tokenizer(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="np")
    ids, mask = embedder.tokenize(TEXTS)
    np.testing.assert_array_equal(ids, expected["input_ids"])
    np.testing.assert_array_equal(mask, expected["attention_mask"])
    assert ids.shape[1] == 77  # the long texts are truncated at the window
    for text in TEXTS:  # alone: padded to its own length, not to 77
        alone = tokenizer([text], truncation=True, max_length=77, return_tensors="np")
        np.testing.assert_array_equal(embedder.tokenize([text])[0], alone["input_ids"])


@pytest.mark.parametrize("name", list(awkward_images()))
@pytest.mark.parametrize("config", ["tiny", "vit-b32 default"])
def test_pixel_arrays_equal_transformers_processor(name, config, tiny_model_dir):
    image = awkward_images()[name]
    processor = (
        CLIPImageProcessorPil.from_pretrained(tiny_model_dir) if config == "tiny" else CLIPImageProcessorPil()
    )
    expected = processor([image], return_tensors="np")["pixel_values"][0]
    actual = ImagePreprocessor(processor.to_dict())(image)
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


def test_text_embeddings_equal_transformers_forward(embedder, model, tiny_model_dir):
    tokenizer = CLIPTokenizer.from_pretrained(tiny_model_dir)
    inputs = tokenizer(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        expected = model.get_text_features(**inputs).pooler_output.numpy()
    actual = embedder.embed_texts(TEXTS)
    assert actual.shape == (len(TEXTS), PROJECTION_DIM)
    assert actual.dtype == np.float32
    assert cosines(actual, expected).min() >= 0.99999
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, rtol=1e-5)


def test_image_embeddings_equal_transformers_forward(embedder, model, tiny_model_dir):
    images = list(awkward_images().values())
    processor = CLIPProcessor.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        expected = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
    actual = embedder.embed_images(images)
    assert cosines(actual, expected.numpy()).min() >= 0.99999


def test_image_batches_past_32_and_empty_calls(embedder):
    images = [picture(seed, (40, 30)) for seed in range(35)]
    batched = embedder.embed_images(images)
    assert batched.shape == (35, PROJECTION_DIM)
    assert cosines(batched[33:], embedder.embed_images(images[33:])).min() >= 0.99999
    assert embedder.embed_images([]).shape == (0, PROJECTION_DIM)
    assert embedder.embed_texts([]).shape == (0, PROJECTION_DIM)


def test_load_embedder_loads_once_with_a_thread_per_cpu(tiny_runtime_dir, monkeypatch):
    monkeypatch.setattr("clipsearch.model.onnx_model.available_cpus", lambda: 3)
    load_embedder.cache_clear()
    try:
        first = load_embedder(str(tiny_runtime_dir))
        assert load_embedder(str(tiny_runtime_dir)) is first
        assert first.threads == 3
        assert first.text.get_session_options().intra_op_num_threads == 3
        assert first.vision.get_session_options().intra_op_num_threads == 3
    finally:
        load_embedder.cache_clear()


def test_side_by_side_calls_split_the_cpus_and_equal_one_call_at_a_time(tiny_runtime_dir, monkeypatch):
    monkeypatch.setattr("clipsearch.model.onnx_model.available_cpus", lambda: 4)
    side_by_side = OnnxEmbedder(tiny_runtime_dir, calls_at_once=4)
    assert (side_by_side.calls_at_once, side_by_side.threads) == (4, 1)
    assert side_by_side.vision.get_session_options().intra_op_num_threads == 1
    assert OnnxEmbedder(tiny_runtime_dir, calls_at_once=2).threads == 2
    assert OnnxEmbedder(tiny_runtime_dir, calls_at_once=8).threads == 1  # never none
    batches = [[picture(seed + 10 * batch, (60, 40)) for seed in range(5)] for batch in range(8)]
    one_at_a_time = [OnnxEmbedder(tiny_runtime_dir).embed_images(batch) for batch in batches]
    with ThreadPoolExecutor(4) as calls:  # one session, four runs at once
        together = list(calls.map(side_by_side.embed_images, batches))
    for alone, concurrent in zip(one_at_a_time, together, strict=True):
        assert cosines(alone, concurrent).min() >= 0.99999


def test_images_prepared_on_the_models_threads_equal_one_thread(tiny_runtime_dir):
    images = [picture(seed, (60 + seed, 40)) for seed in range(7)]
    threaded = OnnxEmbedder(tiny_runtime_dir, threads=3)
    serial = threaded.embed_prepared([threaded.prepare_image(image) for image in images])
    assert cosines(serial, threaded.embed_images(images)).min() >= 0.99999  # in order, item for item


def test_each_tower_is_opened_by_its_first_call(tiny_runtime_dir, monkeypatch):
    opened: list[str] = []
    open_session = OnnxEmbedder._session

    def counted(self: OnnxEmbedder, name: str) -> Any:
        opened.append(name)
        return open_session(self, name)

    monkeypatch.setattr(OnnxEmbedder, "_session", counted)
    embedder = OnnxEmbedder(tiny_runtime_dir)
    assert opened == []
    embedder.embed_images([picture(1, (40, 30))])
    embedder.embed_images([picture(2, (40, 30))])
    assert opened == ["vision.onnx"]  # an image-only container (the batch function) never opens text
    embedder.embed_texts(["a dog"])
    assert opened == ["vision.onnx", "text.onnx"]


def test_calls_arriving_together_open_the_vision_tower_once(tiny_runtime_dir, monkeypatch):
    embedder = OnnxEmbedder(tiny_runtime_dir, calls_at_once=4)
    opened: list[str] = []
    open_session = OnnxEmbedder._session

    def slow_open(self: OnnxEmbedder, name: str) -> Any:
        opened.append(name)
        time.sleep(0.2)  # long enough for every call to arrive while the first one opens it
        return open_session(self, name)

    monkeypatch.setattr(OnnxEmbedder, "_session", slow_open)
    start = threading.Barrier(4)

    def first_call(_: int) -> np.ndarray:
        start.wait(timeout=10)
        return embedder.embed_images([picture(1, (40, 30))])

    with ThreadPoolExecutor(4) as calls:
        list(calls.map(first_call, range(4)))
    assert opened == ["vision.onnx"]


def test_the_runtime_imports_neither_torch_nor_transformers(tiny_runtime_dir):
    """Nor what the image's final stage deletes (numpy's tests, ONNX Runtime's offline tooling)."""
    script = (
        "import sys; from clipsearch.model.onnx_model import load_embedder; from PIL import Image; "
        f"e = load_embedder({str(tiny_runtime_dir)!r}); e.embed_texts(['a dog']); "
        "e.embed_images([Image.new('RGB', (9, 9))]); import lambda_clip.app, lambda_batch.app; "
        "trimmed = ('onnxruntime.quantization', 'onnxruntime.transformers', 'onnxruntime.tools'); "
        "bad = sorted(m for m in sys.modules if m in ('torch', 'transformers', 'onnx') "
        "or m.startswith(trimmed) or m.startswith('numpy.') and '.tests' in m); "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    env = {
        "MODEL_DIR": str(tiny_runtime_dir),
        "BUCKET_NAME": "b",
        "VIDEOS_TABLE": "videos",
        "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/work.fifo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def int8_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return export(tiny_model_dir, tmp_path_factory.mktemp("int8") / "model", precision="int8")


def test_int8_passes_its_gate_keeps_the_model_id_and_stays_close(int8_dir, embedder, tiny_runtime_dir):
    runtime = json.loads((int8_dir / "runtime.json").read_text())
    assert runtime["precision"] == "int8"
    assert runtime["model_id"] == embedder.model_id  # searched together with fp32 vectors
    gate = runtime["gate"]
    assert gate["mean_cosine"] >= export_onnx.GATE_MEAN_COSINE
    assert gate["top10_overlap"] >= export_onnx.GATE_TOP10_OVERLAP
    int8 = OnnxEmbedder(int8_dir)
    assert int8.precision == "int8"
    texts, images = probe_texts()[:8], probe_images(8)
    assert cosines(int8.embed_texts(texts), embedder.embed_texts(texts)).mean() >= 0.99
    assert cosines(int8.embed_images(images), embedder.embed_images(images)).mean() >= 0.99
    # int8 weights: smaller towers (the tiny model's graph overhead keeps it from 4x)
    assert tower_bytes(int8_dir, "vision") < tower_bytes(tiny_runtime_dir, "vision")


def tower_bytes(folder: Path, tower: str) -> int:
    return sum(file.stat().st_size for file in folder.glob(f"{tower}.onnx*"))


def test_int8_failing_its_gate_fails_the_build_and_writes_nothing(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(export_onnx, "GATE_TOP10_OVERLAP", 1.01)  # a gate nothing can pass
    target = tmp_path / "model"
    with pytest.raises(GateFailed, match="top-10 overlap"):
        export(tiny_model_dir, target, precision="int8")
    assert not target.exists()
    assert export_onnx.main([str(tiny_model_dir), str(target), "--precision", "int8"]) == 1
    assert "fails the probe-set gate" in capsys.readouterr().err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_the_gate_compares_cosines_and_neighbours():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    same = export_onnx.compare(vectors, vectors)
    assert same.passed
    assert same.mean_cosine == pytest.approx(1.0)
    assert same.top10_overlap == 1.0
    shuffled = export_onnx.compare(vectors, vectors[rng.permutation(40)])
    assert not shuffled.passed


def test_the_command_line_converts_a_save_pretrained_folder(tiny_model_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "clipsearch.model.export_onnx", str(tiny_model_dir), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["precision"] == "fp32"
    vector = OnnxEmbedder(tmp_path / "out").embed_texts(["a dog"])
    assert vector.shape == (1, PROJECTION_DIM)
