"""int8 variants of the vision tower against the one the images ship, per pair: what was tried for
more images/s (issue #27), each through the build gate (cosine and top-10 overlap against fp32 on
the probe set, the thresholds of clipsearch/model/export_onnx.py; a variant's texts go through the
shipped int8 text tower, as only the vision tower varies).

- shipped: `export_onnx --precision int8` (the patch embedding as a MatMul, `quantize_dynamic`,
  saved optimised, opened as the run time opens it);
- patch Conv kept: the same with the patch embedding exported as torch has it (a Conv, which
  int8 turns into ConvInteger), opened optimised online: the int8 tower as the images shipped it
  before runtime format 2;
- ORT transformer optimizer: `onnxruntime.transformers.optimizer` (model type "clip": SkipLayerNorm,
  QuickGelu) on the exported tower, then `quantize_dynamic`;
- fused attention: the tower exported with transformers' eager attention, which the optimizer
  fuses into Attention operators (the default SDPA export matches none of its patterns), then
  `quantize_dynamic` (QAttention);
- static QDQ: `quantize_static`, QDQ format, int8 weights per channel, activations calibrated
  (MinMax) on the probe set's images.

Each variant runs the same batch of 32 prepared frames (the model alone: preprocessing is the same
for all) two ways, each against the shipped one in the same round: one call on all vCPUs (the CLIP
function's way) and one single-threaded call per vCPU side by side (the batch function's).

    .venv/bin/python -m bench.bench_int8 [--repeats 8] [--write]

`--write` keeps the table in bench/results/int8.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.transformers.optimizer import optimize_model
from transformers import CLIPConfig, CLIPModel

from bench.bench_clip import BENCH, build_full_size, runtime_folder
from bench.side_by_side import Sample, in_rounds, median, per_pair, timed
from bench.tables import Table, document, load, write
from clipsearch.model import export_onnx
from clipsearch.model.onnx_model import OnnxEmbedder, available_cpus
from clipsearch.model.probe_set import probe_images, probe_texts
from tests.sample_images import picture


def export_vision(source: Path, path: Path, *, attention: str = "sdpa", keep_conv: bool = False) -> Path:
    """The vision tower as export_onnx exports it (fp32), or with transformers' eager attention, or
    with the patch embedding left a Conv."""
    model = CLIPModel.from_pretrained(source, dtype=torch.float32, attn_implementation=attention).eval()
    as_exported = mock.patch.object(export_onnx, "_PatchEmbedding", lambda conv: conv)
    with as_exported if keep_conv else contextlib.nullcontext():
        export_onnx._export_vision(model, path, int(model.config.vision_config.image_size))
    return path


def dynamic(source: Path, target: Path) -> Path:
    # The optimizer's contrib operators have no ONNX shape inference: say their tensors are float.
    options = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, extra_options=options)
    return target


def transformer_optimized(source: Path, target: Path) -> Path:
    config: Any = CLIPConfig().vision_config  # the full-size model's
    optimized = optimize_model(
        str(source), model_type="clip", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    print(f"  {target.name}: fused {optimized.get_fused_operator_statistics()}")
    optimized.save_model_to_file(str(target))
    return target


class ProbeImages(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, pixels: np.ndarray) -> None:
        self.batches: Iterator[np.ndarray] = iter(np.array_split(pixels, 6))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"pixel_values": batch}


def static_qdq(source: Path, target: Path, calibration: np.ndarray) -> Path:
    quantize_static(
        str(source),
        str(target),
        ProbeImages(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        calibrate_method=CalibrationMethod.MinMax,
    )
    return target


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # online, as exported
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--write", action="store_true", help="keep the table in bench/results/int8.md")
    args = parser.parse_args()

    source = build_full_size(BENCH / "vit-b32-random")
    fp32 = OnnxEmbedder(runtime_folder("fp32"))
    probe = np.stack([fp32.prepare_image(image) for image in probe_images()])
    frames = np.stack([fp32.prepare_image(picture(seed, (640, 360))) for seed in range(32)])
    # The build gate's comparison: the probe set's texts and images against fp32; a variant's text
    # vectors are the shipped int8 text tower's (only the vision tower varies).
    reference = np.concatenate([fp32.embed_texts(probe_texts()), fp32.embed_prepared(list(probe))])
    cpus = available_cpus()
    with tempfile.TemporaryDirectory(dir=BENCH) as work:
        folder = Path(work)
        exported = export_vision(source, folder / "exported.onnx")
        eager = export_vision(source, folder / "eager.onnx", attention="eager")
        print("building the variants")
        variants = {
            "patch Conv kept (ConvInteger)": dynamic(
                export_vision(source, folder / "conv.onnx", keep_conv=True), folder / "conv.int8.onnx"
            ),
            "ORT transformer optimizer (clip), then dynamic": dynamic(
                transformer_optimized(exported, folder / "optimized.onnx"), folder / "optimized.int8.onnx"
            ),
            "eager attention fused (Attention), then dynamic": dynamic(
                transformer_optimized(eager, folder / "fused.onnx"), folder / "fused.int8.onnx"
            ),
            "static QDQ, per channel, calibrated on the probe set": static_qdq(
                exported, folder / "static.onnx", probe
            ),
        }
        int8 = runtime_folder("int8")
        int8_texts = OnnxEmbedder(int8).embed_texts(probe_texts())
        shipped = {  # as the CLIP function and the batch function open it
            "all": runner(OnnxEmbedder(int8).vision, frames, 1),
            "side": runner(OnnxEmbedder(int8, calls_at_once=cpus).vision, frames, cpus),
        }
        table = Table(
            "int8 vision tower variants against the shipped one, per pair (model alone, batch 32)",
            ["variant", "gate vs fp32: mean / min cosine, top-10", "passes",
             f"images/s, {cpus} threads", "vs shipped", f"images/s, {cpus} x 1 thread", "vs shipped", "load"],
        )  # fmt: skip
        for name, path in variants.items():
            images = np.asarray(session(path, cpus).run(None, {"pixel_values": probe})[0])
            gate = export_onnx.compare(reference, np.concatenate([int8_texts, images]))
            cells = [name, f"{gate.mean_cosine:.5f} / {gate.min_cosine:.5f}, {gate.top10_overlap:.3f}"]
            cells.append("yes" if gate.passed else "**no**")
            ways = {
                "all": runner(session(path, cpus), frames, 1),
                "side": runner(session(path, 1), frames, cpus),
            }
            for way, calls in (("all", 1), ("side", cpus)):
                samples = rounds(ways[way], shipped[way], args.repeats)
                rates = {
                    key: [32 * calls / sample.wall for sample in values] for key, values in samples.items()
                }
                cells += [
                    f"{median(rates['variant']):.3g}",
                    str(per_pair(rates["variant"], rates["shipped"])),
                ]
            table.rows.append([*cells, load()])
            print(" | ".join(table.rows[-1]))
        shipped_gate = json.loads((int8 / "runtime.json").read_text())["gate"]
        table.notes.append(
            f"The shipped tower's own gate (texts and images, at export): {shipped_gate}. A ratio cell: "
            f"median of {args.repeats} per-pair ratios (range); above 1, the variant is faster."
        )
    text = document(
        "bench_int8",
        "Full-size ViT-B/32 architecture with random weights (`python -m bench.bench_int8`; the "
        "module's docstring says what each variant is).",
        [table],
    )
    print(text)
    if args.write:
        print(f"written to {write('int8', text)}")


def runner(vision: Any, frames: np.ndarray, calls: int) -> Callable[[], object]:
    """`calls` runs of the batch at once on one session (side by side when more than one)."""
    if calls == 1:
        return lambda: vision.run(None, {"pixel_values": frames})
    pool = ThreadPoolExecutor(calls)
    return lambda: list(pool.map(lambda _: vision.run(None, {"pixel_values": frames}), range(calls)))


def rounds(
    variant: Callable[[], object], shipped: Callable[[], object], repeats: int
) -> dict[str, list[Sample]]:
    variant(), shipped()  # warm-up
    return in_rounds({"variant": lambda: timed(variant), "shipped": lambda: timed(shipped)}, repeats)


if __name__ == "__main__":
    main()
