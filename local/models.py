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
            from clipsearch.fetch_model import fetch

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
