"""CLIP function: the ONNX path the images run (fp32 and int8) against the guide's torch path, side
by side in one run. Every ratio is the median of per-pair ratios with their range (each round runs
every path once, the order rotating; bench/side_by_side.py), beside the load average it ran at.

- Cold start: a new process imports the handler module with the environment the stack gives the
  function (deployment/runtime_env.py; MODEL_DIR as the image sets it) and answers
  events/clip-text.json, or events/clip-image.json (its two frames in moto's S3 server, reached
  through AWS_ENDPOINT_URL_S3 as the local system does): wall and CPU time from before the import
  to the answer (bench/clip_child.py). The guide's path is its handler, bench/guide_app.py, the same
  way.
- Warm: one text query, and images/s at batch 32 (decoded images to vectors: preprocessing and the
  model) on all vCPUs; and the batch function's way, one single-threaded batch of 32 per vCPU side
  by side (`calls_at_once`), against the guide's batch of 32 in the same round.
- The handler's own cost: one text query through `lambda_clip.app.handler` against its bare
  embedder, in a process of its own (EMF metrics and logs to a pipe, as in Lambda).
- Installed runtime packages: the final stage's, against the guide's image.

Full-size ViT-B/32 architecture (CLIPConfig defaults) with random weights: the same shapes and cost
as openai/clip-vit-base-patch32, converted with `clipsearch.model.export_onnx` as the images do
(int8 through its probe-set gate, whose numbers it prints). The tokenizer is the tests' tiny
byte-level one, so a query has more tokens than the real BPE would give it (about 3x); both paths
tokenize alike. The model and its exports are kept in .local/bench/ (delete it to rebuild).

    .venv/bin/python -m bench.bench_clip [--rounds 5] [--repeats 15] [--before REF] [--write]

`--write` keeps the tables in bench/results/clip.md. `--before REF` measures a commit's CLIP function
in the same rounds (its handler and its own exports: the cold start, the handler's cost; and its
int8 vision tower, opened as its run time did, for images/s), so that a change's before and after
come from one run: its tree is `git archive`d into .local/bench/before-<commit>/ with today's
bench/clip_child.py (with bench/lambda_context.py) and bench/side_by_side.py beside it.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnxruntime as ort
import torch
from moto.server import ThreadedMotoServer
from packaging.requirements import Requirement
from PIL.Image import Image
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

from bench.side_by_side import Sample, in_rounds, median, per_pair, timed
from bench.tables import Table, document, load, write
from clipsearch.layout import parse_s3_uri
from clipsearch.model.export_onnx import GateFailed, compare, export
from clipsearch.model.onnx_model import RUNTIME_FORMAT, OnnxEmbedder, available_cpus
from clipsearch.model.probe_set import probe_images, probe_texts
from deployment.context import load_config, read_cdk_json_context
from deployment.runtime_env import function_environments
from local.stack import free_port
from local.tiny_clip import build_tiny_clip
from tests.sample_images import encode, picture

QUERY = "a man riding a bicycle"
ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".local" / "bench"
EVENTS = ROOT / "events"
GUIDE = "guide"


def build_full_size(target: Path) -> Path:
    if (target / "config.json").is_file():
        return target
    build_tiny_clip(target / "tokenizer")  # borrow its tokenizer files
    tokenizer = CLIPTokenizer.from_pretrained(target / "tokenizer")
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(target)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(target)  # ViT-B/32: 224 px, patch 32, 512-d projection
    return target


def runtime_folder(precision: str) -> Path:
    """The full-size model's runtime folder of this precision (exported once, kept in .local/bench;
    again when the runtime format changes)."""
    target = BENCH / f"vit-b32-random-{precision}"
    runtime = target / "runtime.json"
    if not runtime.is_file() or json.loads(runtime.read_text()).get("format") != RUNTIME_FORMAT:
        export(build_full_size(BENCH / "vit-b32-random"), target, precision=precision)
    return target


class GuidePath:
    """The guide's handler per request (bench/guide_app.py): processor call, then the model, under
    torch.no_grad(), then normalisation."""

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


def lambda_environment(model_dir: Path, s3_endpoint: str, tree: Path = ROOT) -> dict[str, str]:
    """A CLIP function's environment: what Lambda sets, what the stack sets (deployment/runtime_env.py,
    from cdk.json as `cdk deploy` reads it), MODEL_DIR as the image sets it, and S3 at moto's server."""
    config = load_config(read_cdk_json_context(ROOT / "cdk.json"))
    return {
        "PATH": os.environ["PATH"],
        "LAMBDA_TASK_ROOT": str(tree),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": config.clip.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.clip.memory_mb),
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        **function_environments(config, bucket=frame_bucket(), work_queue_url="")["clip"],
        "MODEL_DIR": str(model_dir),
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "HF_HUB_OFFLINE": "1",
    }


def frame_bucket() -> str:
    """The bucket events/clip-image.json reads its frames from."""
    return parse_s3_uri(json.loads((EVENTS / "clip-image.json").read_text())["items"][0])[0]


@contextmanager
def s3_with_the_image_events_frames() -> Iterator[str]:
    """Moto's S3 server holding the frames events/clip-image.json names (640x360 WebP at quality
    80, the pipeline's); yields its endpoint."""
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )  # fmt: skip
        s3.create_bucket(Bucket=frame_bucket())
        for seed, uri in enumerate(json.loads((EVENTS / "clip-image.json").read_text())["items"]):
            bucket, key = parse_s3_uri(uri)
            s3.put_object(Bucket=bucket, Key=key, Body=encode(picture(seed, (640, 360)), "WEBP", quality=80))
        yield endpoint
    finally:
        server.stop()


@dataclass(frozen=True)
class Checkout:
    """Where a CLIP function comes from: this tree, or an earlier commit's (`--before`)."""

    tree: Path
    folders: dict[str, Path]  # precision -> its runtime folder, exported by that tree


def before_checkout(ref: str, source: Path) -> Checkout:
    """`ref`'s tree and its own fp32 and int8 exports of the full-size model (made once)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = BENCH / f"before-{commit}"
    if not tree.is_dir():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    # today's harness (and what it imports), so both sides are timed alike
    for harness in ("clip_child.py", "lambda_context.py", "side_by_side.py"):
        shutil.copy(ROOT / "bench" / harness, tree / "bench" / harness)
    folders = {}
    for precision in ("fp32", "int8"):
        folders[precision] = target = BENCH / f"before-{commit}-{precision}"
        if not (target / "runtime.json").is_file():
            subprocess.run(
                [sys.executable, "-m", "clipsearch.model.export_onnx", str(source), str(target),
                 "--precision", precision],
                cwd=tree, check=True, capture_output=True,
            )  # fmt: skip
    return Checkout(tree, folders)


def child(args: list[str], env: dict[str, str], tree: Path = ROOT) -> dict[str, Any]:
    """Run bench/clip_child.py in `tree`; its last line of output (EMF metrics come before it)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.clip_child", *args], cwd=tree, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.clip_child {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


class Columns:
    """The paths a table compares, each against the guide's per pair: a column of medians and one
    of ratios each; a path a row does not measure is a dash."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.ours = [path for path in paths if path != GUIDE]

    def head(self) -> list[str]:
        return ["measure", *self.paths, *(f"{path} / guide" for path in self.ours), "load"]

    def row(self, name: str, values: dict[str, list[float]]) -> list[str]:
        medians = [f"{median(values[path]):.3g}" if path in values else "—" for path in self.paths]
        ratios = [str(per_pair(values[path], values[GUIDE])) if path in values else "—" for path in self.ours]
        return [name, *medians, *ratios, load()]

    def time_rows(
        self, name: str, unit: str, scale: float, samples: dict[str, list[Sample]]
    ) -> list[list[str]]:
        """Wall and CPU time per call (lower is better)."""
        return [
            self.row(
                f"{name} ({unit})", {path: [s.wall * scale for s in got] for path, got in samples.items()}
            ),
            self.row(
                f"  the same, CPU ({unit})",
                {path: [s.cpu * scale for s in got] for path, got in samples.items()},
            ),
        ]

    def rate_rows(
        self, name: str, samples: dict[str, list[Sample]], images: dict[str, int]
    ) -> list[list[str]]:
        """Images per second (higher is better) and CPU ms per image (lower is better)."""
        return [
            self.row(name, {path: [images[path] / s.wall for s in got] for path, got in samples.items()}),
            self.row(
                "  CPU ms per image",
                {path: [s.cpu * 1000 / images[path] for s in got] for path, got in samples.items()},
            ),
        ]


def measure(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[Sample]]:
    for call in calls.values():
        call()  # warm-up
    return in_rounds({path: functools.partial(timed, call) for path, call in calls.items()}, rounds)


def cold_start(module: str, event: Path, env: dict[str, str], tree: Path = ROOT) -> Callable[[], Sample]:
    """A new process that imports the handler module and answers the event once."""

    def once() -> Sample:
        answer = child(["cold-start", module, str(event)], env, tree)
        return Sample(answer["wall"], answer["cpu"])

    return once


def cold_start_rows(
    columns: Columns, functions: dict[str, tuple[Checkout, str]], guide: Path, rounds: int
) -> list[list[str]]:
    """`functions`: path -> the checkout and precision whose handler it runs."""
    rows = []
    with s3_with_the_image_events_frames() as endpoint:
        for event, what in (("clip-text.json", "text"), ("clip-image.json", "image (2 frames from S3)")):
            runs = {
                path: cold_start(
                    "lambda_clip.app",
                    EVENTS / event,
                    lambda_environment(checkout.folders[precision], endpoint, checkout.tree),
                    checkout.tree,
                )
                for path, (checkout, precision) in functions.items()
            }
            runs[GUIDE] = cold_start("bench.guide_app", EVENTS / event, lambda_environment(guide, endpoint))
            samples = in_rounds(runs, rounds)
            rows += columns.time_rows(f"cold start, {what} event: import + first answer", "s", 1, samples)
    return rows


def before_int8(folder: Path, before: Path) -> OnnxEmbedder:
    """Today's embedder running `before`'s int8 vision tower as that run time opened it: as
    exported, optimised at every session start."""
    embedder = OnnxEmbedder(folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = embedder.threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    embedder._towers["vision"] = ort.InferenceSession(
        str(before / "vision.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return embedder


def warm_rows(
    columns: Columns, folders: dict[str, Path], guide_dir: Path, before: Checkout | None, repeats: int
) -> list[list[str]]:
    fp32, int8 = OnnxEmbedder(folders["fp32"]), OnnxEmbedder(folders["int8"])
    guide = GuidePath(guide_dir)
    texts, probe = probe_texts(), probe_images()
    torch_vectors = torch.cat([guide.texts(texts), guide.images(probe)]).numpy()
    for name, embedder in (("fp32", fp32), ("int8", int8)):
        agreement = compare(torch_vectors, _both(embedder, texts, probe)).describe()
        print(f"ONNX {name} vs torch on the probe set: {agreement}")
    cpus = available_cpus()
    print(f"threads: ONNX {fp32.threads}, torch {torch.get_num_threads()}, vCPUs {cpus}")

    one = [picture(1, (640, 360))]
    batch = [picture(seed, (640, 360)) for seed in range(32)]
    few = max(3, repeats // 3)
    text = measure(
        {"fp32": lambda: fp32.embed_texts([QUERY]), "int8": lambda: int8.embed_texts([QUERY]),
         GUIDE: lambda: guide.texts([QUERY])},
        repeats,
    )  # fmt: skip
    one_s = measure(
        {"fp32": lambda: fp32.embed_images(one), "int8": lambda: int8.embed_images(one),
         GUIDE: lambda: guide.images(one)},
        repeats,
    )  # fmt: skip
    batch_paths: dict[str, Callable[[], object]] = {
        "fp32": lambda: fp32.embed_images(batch), "int8": lambda: int8.embed_images(batch),
        GUIDE: lambda: guide.images(batch),
    }  # fmt: skip
    if before is not None:
        old = before_int8(folders["int8"], before.folders["int8"])
        # as REF's embed_images did: the images prepared one after another, then the model
        batch_paths["int8 before"] = lambda: old.embed_prepared([old.prepare_image(image) for image in batch])
    batch_s = measure(batch_paths, few)
    # The batch function's way: one single-threaded batch of 32 per vCPU at once (calls_at_once).
    calls = ThreadPoolExecutor(cpus)

    def all_cpus(folder: Path) -> Callable[[], object]:
        embedder = OnnxEmbedder(folder, calls_at_once=cpus)
        return lambda: list(calls.map(embedder.embed_images, [batch] * cpus))

    side = measure(
        {"fp32": all_cpus(folders["fp32"]), "int8": all_cpus(folders["int8"]),
         GUIDE: lambda: guide.images(batch)},
        few,
    )  # fmt: skip
    return [
        *columns.time_rows("one short text query", "ms", 1000, text),
        *columns.rate_rows("images/s at batch 1 (decoded image to vector)", one_s, dict.fromkeys(one_s, 1)),
        *columns.rate_rows("images/s at batch 32", batch_s, dict.fromkeys(batch_s, 32)),
        *columns.rate_rows(
            f"images/s, {cpus} batches of 32 side by side, 1 thread each (guide: its batch of 32)",
            side,
            {"fp32": 32 * cpus, "int8": 32 * cpus, GUIDE: 32},
        ),
    ]


# The handler's answers bench/clip_child.py times: the guide's event, and the search function's request.
WAYS = {"json": "the guide's JSON vectors", "f16-b64": "the search's f16-b64"}


def handler_rows(functions: dict[str, tuple[Checkout, str]], repeats: int) -> list[list[str]]:
    """One text query through the handler against its bare embedder, per pair, in a process of its
    own per function (the handler's EMF metrics and logs go to a pipe, as in Lambda)."""
    samples = {
        path: child(
            ["handler-overhead", QUERY, str(repeats)],
            lambda_environment(checkout.folders[precision], "http://unused", checkout.tree),
            checkout.tree,
        )
        for path, (checkout, precision) in functions.items()
    }
    rows = []
    for name, field in (("wall", "wall"), ("CPU", "cpu")):
        got = {
            p: {way: [s[field] * 1000 for s in samples[p][way]] for way in (*WAYS, "bare")} for p in samples
        }
        rows.append(
            [f"bare embedder, one text query, {name} (ms)", *(f"{median(got[p]['bare']):.3g}" for p in got)]
        )
        for way, what in WAYS.items():
            rows += [
                [f"handler, {what}, {name} (ms)", *(f"{median(got[p][way]):.3g}" for p in got)],
                ["  handler / bare embedder", *(str(per_pair(got[p][way], got[p]["bare"])) for p in got)],
            ]
    return [[*cells, load()] for cells in rows]


# What the model images' final stage deletes after installing (lambda_clip/Dockerfile; a test keeps
# the two lists equal): never imported at run time.
TRIMMED = (
    "numpy/*/tests",
    "numpy/tests",
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
)


def installed_mb(
    requirement_lines: list[str], *, follow: bool = True, trimmed: tuple[str, ...] = ()
) -> float:
    """Installed size of these distributions (pip's RECORD files), with everything they require
    unless `follow` is off (a file the image installs with --no-deps)."""
    seen: set[str] = set()
    pending = [Requirement(line).name for line in requirement_lines]
    total = 0
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total += sum(
            (file.size or 0)
            for file in dist.files or []
            if not any(fnmatch.fnmatch(str(file), f"{pattern}/*") for pattern in trimmed)
        )
        for line in (dist.requires or []) if follow else []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return total / 1e6


def requirement_names(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def size_rows() -> list[list[str]]:
    runtime = requirement_names(ROOT / "requirements-model.txt")
    untrimmed = installed_mb(runtime, follow=False)  # the final stage: pip install --no-deps
    trimmed = installed_mb(runtime, follow=False, trimmed=TRIMMED)  # and what it deletes
    # The guide's image: torch and transformers in place of onnxruntime and tokenizers.
    guide = installed_mb(
        ["torch", "transformers", "pillow", "numpy", "boto3", "aws-lambda-powertools", "aws-xray-sdk"]
    )
    return [
        [name, f"{size:.0f}", f"{guide:.0f}", f"{size / guide:.2f}×"]
        for name, size in (
            ("installed runtime packages (MB)", trimmed),
            ("  the same before the final stage trims", untrimmed),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="cold-start rounds (new processes)")
    parser.add_argument("--repeats", type=int, default=15, help="warm rounds")
    parser.add_argument("--before", metavar="REF", help="also measure this commit's CLIP function")
    parser.add_argument("--write", action="store_true", help="keep the tables in bench/results/clip.md")
    args = parser.parse_args()

    source = build_full_size(BENCH / "vit-b32-random")
    try:
        ours = Checkout(ROOT, {"fp32": runtime_folder("fp32"), "int8": runtime_folder("int8")})
    except GateFailed as error:
        sys.exit(f"int8 did not pass its gate on the full-size model: {error}")
    gate = json.loads((ours.folders["int8"] / "runtime.json").read_text())["gate"]
    print(f"int8 gate on the probe set (vs fp32 ONNX): {gate}")
    functions = {"fp32": (ours, "fp32"), "int8": (ours, "int8")}
    before = None
    if args.before:
        before = before_checkout(args.before, source)
        functions |= {"fp32 before": (before, "fp32"), "int8 before": (before, "int8")}
    columns = Columns([*functions, GUIDE])

    notes = [
        f"Cold start: medians of {args.rounds} rounds of new processes; warm rows: {args.repeats} rounds "
        f"(batch 32: {max(3, args.repeats // 3)}). A ratio cell: median of the per-pair ratios "
        "(range). Load: the 1-minute load average when the row ended.",
    ]
    if before is not None:
        notes.append(
            f"before: {args.before}'s CLIP function ({before.tree.name}), its handler and its own "
            "exports; its int8 images/s at batch 32 runs its int8 vision tower as its run time opened "
            "it, after its serial preprocessing."
        )
    paths = Table(
        "ONNX Runtime (fp32, int8) against the guide's torch path, per pair",
        columns.head(),
        [
            *cold_start_rows(columns, functions, source, args.rounds),
            *warm_rows(columns, ours.folders, source, before, args.repeats),
        ],
        notes,
    )
    handler = Table(
        "The CLIP handler's own cost: one text query through it against its bare embedder, per pair",
        ["measure", *(path for path in functions), "load"],
        handler_rows(functions, 4 * args.repeats),
    )
    sizes = Table(
        "Installed runtime packages", ["measure", "ONNX image", "guide's image", "ONNX / guide"], size_rows()
    )
    text = document(
        "bench_clip",
        "Full-size ViT-B/32 architecture with random weights (`python -m bench.bench_clip`; the "
        "module's docstring says what each row runs).",
        [paths, handler, sizes],
    )
    print(text)
    if args.write:
        print(f"written to {write('clip', text)}")


def _both(embedder: OnnxEmbedder, texts: list[str], images: list[Image]) -> np.ndarray:
    return np.concatenate([embedder.embed_texts(texts), embedder.embed_images(images)])


if __name__ == "__main__":
    main()
