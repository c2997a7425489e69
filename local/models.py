"""Which CLIP model the local system runs: yours, the real one if asked for and reachable, or a tiny
random one (whose rankings are meaningless, said plainly)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from local.tiny_clip import build_tiny_clip

REAL_MODEL = "openai/clip-vit-base-patch32"
MODELS = Path(__file__).resolve().parent.parent / ".local" / "models"


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    meaningful: bool
    note: str


def choose_model(env: dict[str, str] | None = None) -> ModelChoice:
    env = dict(os.environ if env is None else env)
    if env.get("MODEL_DIR"):
        path = Path(env["MODEL_DIR"]).expanduser()
        if not (path / "config.json").is_file():
            raise SystemExit(f"MODEL_DIR={path} is not a save_pretrained folder (no config.json)")
        return ModelChoice(path, True, f"model from MODEL_DIR={path}")
    real = MODELS / "clip-vit-base-patch32"
    if (real / "config.json").is_file():
        return ModelChoice(real, True, f"{REAL_MODEL} (downloaded earlier to {real})")
    note = ""
    if env.get("DOWNLOAD_MODEL") == "1":
        try:
            from clipsearch.model.fetch_model import fetch

            os.environ["HF_HUB_OFFLINE"] = "0"
            fetch(REAL_MODEL, str(real))
            return ModelChoice(real, True, f"{REAL_MODEL}, downloaded to {real}")
        except Exception as error:  # offline, or the Hub refused: fall back, never fail for it
            note = f" (downloading {REAL_MODEL} failed: {type(error).__name__})"
        finally:
            os.environ["HF_HUB_OFFLINE"] = "1"
    tiny = MODELS / "tiny-random-clip"
    if not (tiny / "config.json").is_file():
        build_tiny_clip(tiny)
    return ModelChoice(
        tiny,
        False,
        f"a TINY RANDOM CLIP model: the system runs end to end, but its RANKINGS ARE MEANINGLESS{note}. "
        "For real results set MODEL_DIR to a saved CLIP model, or run `make demo DOWNLOAD_MODEL=1` online.",
    )


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
        staged = export(model_dir, target.with_name(f"{target.name}.{os.getpid()}"))
        try:
            staged.rename(target)
        except OSError:  # another process converted it meanwhile: the same files
            import shutil

            shutil.rmtree(staged, ignore_errors=True)
    return target
