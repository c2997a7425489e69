"""`make invoke FN=clip EVENT=events/clip-text.json`: the Lambda console's Test button, locally.

Uses the local system `make serve` keeps up when there is one (seconds); otherwise starts one with
the sample videos already embedded (so search and image events have data) for this invoke alone.
Invokes FN (clip, search, batch, extract, or a function name) with the event through the Lambda
API, and prints the response with its JSON body decoded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from local.models import choose_model
from local.running import find_running
from local.stack import local_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke a function of the local system with a test event.")
    parser.add_argument("function", help="clip, search, batch (or the function's name)")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/clip-text.json")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"cannot read the event {args.event}: {error}", file=sys.stderr)
        return 2
    running = find_running()
    if running is not None:
        print(f"the local system make serve keeps up ({running.page_url})", file=sys.stderr)
        name = running.functions.get(args.function, args.function)
        if name not in running.functions.values():
            return unknown(args.function, running.functions)
        answer = running.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
        response = json.loads(answer["Payload"].read())
    else:
        model = choose_model()
        print(
            f"model: {model.note} (make serve keeps a system up: invokes then take seconds)", file=sys.stderr
        )
        with local_system(model.path, auto_index=False) as system:  # one explicit batch call, as shown
            if args.function not in system.functions and args.function not in system.functions.values():
                return unknown(args.function, system.functions)
            for video_id in system.add_samples():
                system.invoke("batch", {"video_id": video_id})
            response = system.invoke(args.function, event)
    if isinstance(response.get("body"), str):
        with contextlib.suppress(json.JSONDecodeError):  # show a JSON body as JSON
            response["body"] = json.loads(response["body"])
    print(json.dumps(response, indent=2))
    return 0 if response.get("statusCode", 200) < 400 or "batchItemFailures" in response else 1


def unknown(function: str, functions: dict[str, str]) -> int:
    print(f"unknown function {function!r}: one of {', '.join(functions)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
