"""Save a CLIP model and its processor into a folder (run at image build time).

    python fetch_model.py openai/clip-vit-base-patch32 /opt/model

The source may be a Hub id or a local `save_pretrained` folder. Weights are saved in float32 so the
function never runs fp16 on CPU (about 10x slower).
"""

from __future__ import annotations

import sys

import torch
from transformers import CLIPModel, CLIPProcessor


def fetch(source: str, target: str) -> None:
    model = CLIPModel.from_pretrained(source, dtype=torch.float32)
    model.config.source_model_id = source  # read back by ClipEmbedder as the model's id
    model.save_pretrained(target)
    CLIPProcessor.from_pretrained(source).save_pretrained(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL_ID_OR_DIR TARGET_DIR")
    fetch(sys.argv[1], sys.argv[2])
