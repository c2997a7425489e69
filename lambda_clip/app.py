"""CLIP inference function: texts or frames in, L2-normalised embeddings out.

Request: {"mode": "text" | "image", "items": [...], "encoding": "json" | "f16-b64", "cache": bool}
(see docs/api/clip.md). The model loads once per container from MODEL_DIR; the parts are
built once per container (clipsearch/clip/wiring.py).
"""

from __future__ import annotations

import os
from typing import Any

from clipsearch.clip.wiring import ClipFunction
from clipsearch.runtime.entry import lambda_entry

function = ClipFunction(os.environ)
service = function.service


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    return function.handle(event)
