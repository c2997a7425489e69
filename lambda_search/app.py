"""Search function: a text, image or vector query in, the best matching video frames out.

Request: {"query": "a man riding a bicycle"} | {"image": ...} | {"embedding": [...]}, with options
top_k, video_ids, min_score, dedupe, time_range, frame_urls (docs/api/search.md). No torch here:
the query vector comes from the CLIP function, the frames' vectors from the cache batch writes.
Behind the HTTP API (payload 2.0 events): POST /search and GET /videos (clipsearch/search/http_api.py).
The parts are built once per container (clipsearch/search/wiring.py).
"""

from __future__ import annotations

import os
from typing import Any

from clipsearch.runtime.deadline import LambdaDeadline
from clipsearch.runtime.entry import lambda_entry
from clipsearch.search.wiring import SearchFunction

function = SearchFunction(os.environ)
service = function.service


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    return function.handle(event, LambdaDeadline(context))
