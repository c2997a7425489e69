"""Which CLIP model the local system runs: yours, the real one if asked for and reachable, or the demo
model trained here on the demo's drawn scenes (it knows those and nothing else, said plainly)."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REAL_MODEL = "openai/clip-vit-base-patch32"
MODELS = Path(__file__).resolve().parent.parent / ".local" / "models"


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    note: str


def choose_model(env: dict[str, str] | None = None) -> ModelChoice:
    env = dict(os.environ if env is None else env)
    if env.get("MODEL_DIR"):
        path = Path(env["MODEL_DIR"]).expanduser()
        if not (path / "config.json").is_file():
            raise SystemExit(f"MODEL_DIR={path} is not a save_pretrained folder (no config.json)")
        return ModelChoice(path, f"model from MODEL_DIR={path}")
    real = MODELS / "clip-vit-base-patch32"
    if (real / "config.json").is_file():
        return ModelChoice(real, f"{REAL_MODEL} (downloaded earlier to {real})")
    note = ""
    if env.get("DOWNLOAD_MODEL") == "1":
        try:
            from clipsearch.model.fetch_model import fetch

            os.environ["HF_HUB_OFFLINE"] = "0"
            fetch(REAL_MODEL, str(real))
            return ModelChoice(real, f"{REAL_MODEL}, downloaded to {real}")
        except Exception as error:  # offline, or the Hub refused: fall back, never fail for it
            note = f" (downloading {REAL_MODEL} failed: {type(error).__name__})"
        finally:
            os.environ["HF_HUB_OFFLINE"] = "1"
    from local.demo_clip import CAPTIONS

    return ModelChoice(
        demo_model(),
        f"the DEMO MODEL, a small CLIP trained here on the demo's drawn scenes: it knows these "
        f"{len(CAPTIONS)} ({', '.join(CAPTIONS)}) and nothing else{note}. For real videos set MODEL_DIR "
        "to a saved CLIP model, or run `make demo DOWNLOAD_MODEL=1` online.",
    )


def demo_model() -> Path:
    """The demo CLIP (local/demo_clip.py), trained on first use into .local/models/demo-clip-<hash of
    its code>/ and reused from there."""
    from local.demo_clip import fingerprint, train_demo_clip

    target = MODELS / f"demo-clip-{fingerprint()}"
    if not (target / "config.json").is_file():
        print("training the demo model (about a minute, once) ...", file=sys.stderr, flush=True)
        _build_in_place(target, train_demo_clip)
    return target


def runtime_model(model_dir: Path, *, cache: Path | None = None) -> Path:
    """The ONNX runtime folder of a `save_pretrained` folder (what the images bake), converted once
    with `clipsearch.model.export_onnx` and kept under `.local/models/onnx/`, keyed by the source's files."""
    import hashlib

    from clipsearch.model.export_onnx import export
    from clipsearch.model.onnx_model import RUNTIME_FORMAT

    digest = hashlib.sha256(f"format {RUNTIME_FORMAT}".encode())
    for file in sorted(p for p in Path(model_dir).iterdir() if p.is_file()):
        digest.update(file.name.encode())
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    target = (cache or MODELS / "onnx") / f"{Path(model_dir).name}-{digest.hexdigest()[:16]}"
    if not (target / "runtime.json").is_file():
        _build_in_place(target, lambda staging: export(model_dir, staging))
    return target


def _build_in_place(target: Path, build: Callable[[Path], Path]) -> None:
    """`build` a folder beside `target`, then rename it into place: a run never sees a half-built one.
    Processes building the same target at once (the demo, `make test`'s workers and the demos its tests
    start, all on a fresh clone) take turns on a lock beside it: the first builds, the others find it
    built (each used to train the demo model itself, on the same vCPUs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.with_name(f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if target.is_dir():  # built while this one waited: a rename put it there whole
            return
        staging = target.with_name(f"{target.name}.{os.getpid()}")
        try:
            build(staging).rename(target)
        finally:  # what is left when the build failed
            shutil.rmtree(staging, ignore_errors=True)
