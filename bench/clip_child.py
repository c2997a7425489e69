"""bench_clip's child process: a CLIP handler module in a process of its own, as Lambda runs it,
with the environment bench_clip gives it (the stack's). Standard library only before the clocks.

    python -m bench.clip_child cold-start MODULE EVENT_FILE
        import MODULE (lambda_clip.app, or bench.guide_app) and answer the event once: the wall
        and CPU time from before the import to the answer
    python -m bench.clip_child handler-overhead QUERY ROUNDS
        lambda_clip.app, warm: one text query through the handler (the guide's JSON vectors, and
        the search function's f16-b64) against the same query on its bare embedder, in rounds

Prints one JSON line last; exits 1 unless every answer is a 200 with a vector for every item.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.lambda_context import LambdaContext
from bench.side_by_side import Sample, in_rounds, timed

CONTEXT = LambdaContext("clip-inference", memory_limit_in_mb=3008, remaining_ms=60_000)


def answered(response: dict[str, Any], items: int) -> bool:
    if response.get("statusCode") != 200:
        return False
    vectors = json.loads(response["body"])["embeddings"]
    return len(vectors) == items and all(vector is not None for vector in vectors)


def cold_start(module: str, event_file: str) -> dict[str, Any]:
    event = json.loads(Path(event_file).read_text())
    outcome: dict[str, Any] = {}

    def first_answer() -> None:
        handler = importlib.import_module(module).handler
        outcome["ok"] = answered(handler(event, CONTEXT), len(event["items"]))

    return {**asdict(timed(first_answer)), **outcome}


def handler_overhead(query: str, rounds: int) -> dict[str, Any]:
    app: Any = importlib.import_module("lambda_clip.app")
    embedder = app.service.embedder()
    events = {  # the guide's request (events/clip-text.json), and the search function's
        "json": {"mode": "text", "items": [query]},
        "f16-b64": {"mode": "text", "items": [query], "encoding": "f16-b64"},
    }
    responses = [app.handler(event, CONTEXT) for event in events.values()]  # warm: the model loaded
    embedder.embed_texts([query])

    def through(event: dict[str, Any]) -> Callable[[], Sample]:
        return lambda: timed(lambda: responses.append(app.handler(event, CONTEXT)))

    samples = in_rounds(
        {**{name: through(event) for name, event in events.items()},
         "bare": lambda: timed(lambda: embedder.embed_texts([query]))},
        rounds,
    )  # fmt: skip
    ok = all(answered(response, 1) for response in responses)  # after the clocks: not the handler's cost
    return {"ok": ok, **{name: [asdict(sample) for sample in values] for name, values in samples.items()}}


def main(argv: list[str]) -> int:
    mode, first, second = argv
    result = cold_start(first, second) if mode == "cold-start" else handler_overhead(first, int(second))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
