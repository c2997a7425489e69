"""Save a CLIP model and its processor into a folder (run at image build time).

    python fetch_model.py openai/clip-vit-base-patch32 /opt/model

The source may be a local `save_pretrained` folder, or a Hub id pinned in REVISIONS: the Hub's
files at that commit, so the same commit of this repository always converts the same weights
(another Hub id is refused until it is pinned here). Weights are saved in float32 so the function
never runs fp16 on CPU (about 10x slower).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import CLIPModel, CLIPProcessor

# Hub id -> the commit its files are read at. A new revision: update it here (the image's download
# layer is rebuilt, as this file is part of it) and let CI build and gate the model.
REVISIONS = {"openai/clip-vit-base-patch32": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"}


def revision_of(source: str) -> str:
    """The pinned revision of a Hub id (`main` for a local folder, where none applies)."""
    if Path(source).is_dir():
        return "main"
    if source not in REVISIONS:
        raise ValueError(f"{source}: no pinned Hub revision (add its commit to REVISIONS)")
    return REVISIONS[source]


def fetch(source: str, target: str) -> None:
    revision = revision_of(source)
    model = CLIPModel.from_pretrained(source, dtype=torch.float32, revision=revision)
    model.config.source_model_id = source  # read back by ClipEmbedder as the model's id
    model.save_pretrained(target)
    CLIPProcessor.from_pretrained(source, revision=revision).save_pretrained(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL_ID_OR_DIR TARGET_DIR")
    fetch(sys.argv[1], sys.argv[2])
