"""Convert a CLIP `save_pretrained` folder into the ONNX runtime folder the model images run.

    python -m clipsearch.model.export_onnx SAVED_DIR RUNTIME_DIR [--precision fp32|int8]

(`make onnx-model SOURCE=… TARGET=… [PRECISION=int8]`.) Runs at image build time (the build stage
has torch and transformers; the final stage only onnxruntime and tokenizers), in the tests (once
per session for the tiny model) and in the local system (cached). The runtime folder holds:

- `text.onnx` (input_ids, attention_mask → embeddings) and `vision.onnx` (pixel_values →
  embeddings): each tower with its projection and L2 normalisation in the graph, dynamic batch and
  sequence axes, opset 17, saved after ONNX Runtime's graph optimisations (its extended level: the
  fusions every x86 and arm64 CPU runs alike, none of the layout ones that depend on the CPU), each
  with its weights in `<tower>.onnx.data` (mapped by the session, not parsed). The run time opens
  them with optimisation off; the export checks that they answer as the towers it exported do;
- `tokenizer.json` (truncation at the model's window, padding to the longest item),
  `preprocessor_config.json` (sizes, means, resampling), and `runtime.json` (format, model id,
  dim, token window, precision, ids of the special tokens).

`--precision int8` quantizes both towers' weights (onnxruntime `quantize_dynamic`, int8 weights
and activations quantized per call) and then checks itself against fp32 on the probe set
(`clipsearch/model/probe_set.py`): it fails (exit 1, no folder written) unless the mean cosine to fp32
and the top-10 neighbour overlap stay at or above the gate thresholds below (measured: docs/api/clip.md,
docs/decisions/0004).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

from clipsearch.model.onnx_model import RUNTIME_FORMAT, OnnxEmbedder
from clipsearch.model.probe_set import probe_images, probe_texts

OPSET = 17
TOWERS = ("text", "vision")
# A tower saved optimised answers the probe set as the exported one optimised when it opens (as
# the run time did before format 2): every cosine between their vectors at least this, or the
# export fails.
OPTIMIZED_MIN_COSINE = 0.99999
# The int8 gate (probe set, int8 against fp32 of the same export). Measured on the full-size
# random-weight ViT-B/32: mean cosine 0.9996, min 0.9994, top-10 overlap 0.995 (docs/api/clip.md,
# int8; docs/decisions/0004). The thresholds leave room for real weights' larger activations and
# still refuse a drift that would reorder results: a mean cosine under 0.99 or one vector under
# 0.97, or fewer than 85 % of each probe's 10 nearest neighbours kept.
GATE_MEAN_COSINE = 0.99
GATE_MIN_COSINE = 0.97
GATE_TOP10_OVERLAP = 0.85


class GateFailed(RuntimeError):
    """The int8 towers drift too far from fp32 on the probe set."""


class OptimizedGraphDiffers(RuntimeError):
    """A tower saved optimised answers differently from the tower as exported."""


class _TextTower(torch.nn.Module):
    def __init__(self, model: CLIPModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        return torch.nn.functional.normalize(features.pooler_output, p=2, dim=1)


class _VisionTower(torch.nn.Module):
    def __init__(self, model: CLIPModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.model.get_image_features(pixel_values=pixel_values)
        return torch.nn.functional.normalize(features.pooler_output, p=2, dim=1)


class _PatchEmbedding(torch.nn.Module):
    """ViT's patch embedding (a convolution whose stride is its kernel, no bias, no padding) as one
    MatMul over the flattened patches: the same products and sums. int8 turns a MatMul into ONNX
    Runtime's int8 GEMM, but a Conv into its ConvInteger, which took a fifth of the int8 vision
    tower's time (docs/decisions/0013)."""

    def __init__(self, conv: torch.nn.Conv2d) -> None:
        super().__init__()
        self.patch = int(conv.kernel_size[0])
        square = conv.kernel_size == conv.stride == (self.patch, self.patch)
        if not square or conv.bias is not None or conv.padding != (0, 0):
            raise ValueError(f"not a ViT patch embedding: {conv}")
        self.weight = torch.nn.Parameter(conv.weight.detach().flatten(1).T.contiguous())

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = pixels.shape
        rows, columns, patch = height // self.patch, width // self.patch, self.patch
        patches = pixels.reshape(batch, channels, rows, patch, columns, patch).permute(0, 2, 4, 1, 3, 5)
        embedded = patches.reshape(batch, rows * columns, channels * patch * patch) @ self.weight
        return embedded.transpose(1, 2).reshape(batch, -1, rows, columns)  # the Conv's layout


@dataclass(frozen=True)
class GateResult:
    mean_cosine: float
    min_cosine: float
    top10_overlap: float

    @property
    def passed(self) -> bool:
        return (
            self.mean_cosine >= GATE_MEAN_COSINE
            and self.min_cosine >= GATE_MIN_COSINE
            and self.top10_overlap >= GATE_TOP10_OVERLAP
        )

    def describe(self) -> str:
        return (
            f"mean cosine {self.mean_cosine:.5f} (gate {GATE_MEAN_COSINE}), min cosine "
            f"{self.min_cosine:.5f} (gate {GATE_MIN_COSINE}), top-10 overlap {self.top10_overlap:.3f} "
            f"(gate {GATE_TOP10_OVERLAP})"
        )


def _model_id(model: CLIPModel, source: Path) -> str:
    config: Any = model.config
    return str(getattr(config, "source_model_id", None) or source.name)  # as ClipEmbedder names it


def _export_towers(model: CLIPModel, target: Path, image_size: int) -> None:
    _export_text(model, target / "text.onnx")
    _export_vision(model, target / "vision.onnx", image_size)


def _export_text(model: CLIPModel, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on shape checks it freezes: the towers are checked against torch.
        warnings.simplefilter("ignore")
        ids = torch.ones((2, 7), dtype=torch.int64)
        mask = torch.ones((2, 7), dtype=torch.int64)
        torch.onnx.export(
            _TextTower(model).eval(),
            (ids, mask),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["embeddings"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "embeddings": {0: "batch"},
            },
        )


def _export_vision(model: CLIPModel, path: Path, image_size: int) -> None:
    embeddings: Any = model.vision_model.embeddings
    embeddings.patch_embedding = _PatchEmbedding(embeddings.patch_embedding)  # the same sums
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as for the text tower
        pixels = torch.zeros((2, 3, image_size, image_size), dtype=torch.float32)
        torch.onnx.export(
            _VisionTower(model).eval(),
            (pixels,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["pixel_values"],
            output_names=["embeddings"],
            dynamic_axes={"pixel_values": {0: "batch"}, "embeddings": {0: "batch"}},
        )


def _write_tokenizer(source: Path, target: Path, max_tokens: int) -> dict[str, int]:
    slow = CLIPTokenizer.from_pretrained(source, local_files_only=True)
    backend: Any = getattr(slow, "backend_tokenizer", None) or getattr(slow, "_tokenizer", None)
    if backend is None:  # pragma: no cover - transformers 5's CLIPTokenizer is tokenizers-backed
        raise RuntimeError("this transformers CLIPTokenizer has no tokenizers backend to save")
    pad_id = int(slow.pad_token_id if slow.pad_token_id is not None else slow.eos_token_id)
    backend.enable_truncation(max_length=max_tokens)
    backend.enable_padding(pad_id=pad_id, pad_token=slow.convert_ids_to_tokens(pad_id))
    backend.save(str(target / "tokenizer.json"))
    return {"pad_token_id": pad_id, "eos_token_id": int(slow.eos_token_id)}


def export(source: str | Path, target: str | Path, *, precision: str = "fp32") -> Path:
    """Write the runtime folder for the `save_pretrained` folder `source` into `target` (replaced)."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be fp32 or int8, not {precision!r}")
    source, target = Path(source), Path(target)
    model = CLIPModel.from_pretrained(source, dtype=torch.float32, local_files_only=True)
    model.eval()  # type: ignore[no-untyped-call]
    config: Any = model.config
    max_tokens = int(config.text_config.max_position_embeddings)
    # The processor's own values, wherever the folder keeps them (preprocessor_config.json, or
    # processor_config.json's image_processor as transformers 5 saves it).
    preprocessor = CLIPImageProcessorPil.from_pretrained(source, local_files_only=True).to_dict()
    crop = preprocessor.get("crop_size") or {}
    image_size = int(crop.get("height") or config.vision_config.image_size)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as work:
        exported, staging = Path(work) / "exported", Path(work) / "runtime"
        exported.mkdir()
        staging.mkdir()
        _export_towers(model, exported, image_size)
        special = _write_tokenizer(source, staging, max_tokens)
        (staging / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
        runtime = {
            "format": RUNTIME_FORMAT,
            "model_id": _model_id(model, source),
            "dim": int(config.projection_dim),
            "max_tokens": max_tokens,
            "image_size": image_size,
            "precision": precision,
            **special,
        }
        (staging / "runtime.json").write_text(json.dumps(runtime | {"precision": "fp32"}, indent=2) + "\n")
        optimize(exported, staging)
        if precision == "int8":
            gate = quantize(exported, staging)
            runtime["gate"] = {
                "mean_cosine": gate.mean_cosine,
                "min_cosine": gate.min_cosine,
                "top10_overlap": gate.top10_overlap,
            }
            if not gate.passed:
                raise GateFailed(f"int8 fails the probe-set gate: {gate.describe()}")
        (staging / "runtime.json").write_text(json.dumps(runtime, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def optimize(exported: Path, folder: Path) -> None:
    """Save each tower of `exported` into the runtime folder `folder` after ONNX Runtime's graph
    optimisations, its weights in a file of their own, and check that it answers as before."""
    for tower in TOWERS:
        for old in (folder / f"{tower}.onnx", folder / f"{tower}.onnx.data"):
            old.unlink(missing_ok=True)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(folder / f"{tower}.onnx")
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", f"{tower}.onnx.data"
        )
        _open(exported / f"{tower}.onnx", options)
    embedder = OnnxEmbedder(folder)
    texts, images = _probe_feeds(embedder)
    online = ort.SessionOptions()
    online.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for tower, session, feeds in (("text", embedder.text, texts), ("vision", embedder.vision, images)):
        expected = _open(exported / f"{tower}.onnx", online).run(None, feeds)[0]
        cosine = float(np.min(np.sum(np.asarray(session.run(None, feeds)[0]) * expected, axis=1)))
        if not cosine >= OPTIMIZED_MIN_COSINE:
            raise OptimizedGraphDiffers(
                f"the optimised {tower} tower differs from the exported one on the probe set: "
                f"min cosine {cosine:.7f} (at least {OPTIMIZED_MIN_COSINE} expected)"
            )


def quantize(exported: Path, folder: Path) -> GateResult:
    """Quantize both exported towers (int8 weights), save them optimised into `folder` in place of
    the fp32 ones, and measure them against those on the probe set."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    reference = _embed_probe(OnnxEmbedder(folder))
    for tower in TOWERS:
        fp32_file, int8_file = exported / f"{tower}.onnx", exported / f"{tower}.int8.onnx"
        quantize_dynamic(str(fp32_file), str(int8_file), weight_type=QuantType.QInt8)
        int8_file.replace(fp32_file)
    optimize(exported, folder)
    return compare(reference, _embed_probe(OnnxEmbedder(folder)))


def _open(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _probe_feeds(embedder: OnnxEmbedder) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The probe set as each tower's inputs."""
    ids, mask = embedder.tokenize(probe_texts())
    pixels = np.stack([embedder.prepare_image(image) for image in probe_images()])
    return {"input_ids": ids, "attention_mask": mask}, {"pixel_values": pixels}


def _embed_probe(embedder: OnnxEmbedder) -> np.ndarray:
    return np.concatenate([embedder.embed_texts(probe_texts()), embedder.embed_images(probe_images())])


def compare(reference: np.ndarray, measured: np.ndarray, k: int = 10) -> GateResult:
    """Cosine per row, and how many of each row's k nearest neighbours (among all rows) agree."""
    cosines = (reference * measured).sum(axis=1)
    k = min(k, len(reference) - 1)

    def neighbours(vectors: np.ndarray) -> np.ndarray:
        scores = vectors @ vectors.T
        np.fill_diagonal(scores, -np.inf)
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]

    ours, theirs = neighbours(reference), neighbours(measured)
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs, strict=True)])
    return GateResult(float(cosines.mean()), float(cosines.min()), float(overlap))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", help="a CLIP save_pretrained folder (clipsearch/model/fetch_model.py writes one)"
    )
    parser.add_argument("target", help="the runtime folder to write (replaced)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    args = parser.parse_args(argv)
    try:
        export(args.source, args.target, precision=args.precision)
    except GateFailed as error:
        print(error, file=sys.stderr)
        return 1
    print((Path(args.target) / "runtime.json").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
