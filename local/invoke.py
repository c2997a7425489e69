"""`make invoke FN=clip EVENT=events/clip-text.json`: the Lambda console's Test button, locally.

Starts the local system with the sample videos already embedded (so search and image events have
data), invokes FN (clip, search, batch, or a function name) with the event through the Lambda API,
and prints the response with its JSON body decoded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from local.models import choose_model
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
    model = choose_model()
    print(f"model: {model.note}", file=sys.stderr)
    with local_system(model.path, auto_index=False) as system:  # one explicit batch call, as shown
        if args.function not in system.functions and args.function not in system.functions.values():
            print(
                f"unknown function {args.function!r}: one of {', '.join(system.functions)}", file=sys.stderr
            )
            return 2
        for video_id in system.add_samples():
            system.invoke("batch", {"video_id": video_id})
        response = system.invoke(args.function, event)
    if isinstance(response.get("body"), str):
        with contextlib.suppress(json.JSONDecodeError):  # show a JSON body as JSON
            response["body"] = json.loads(response["body"])
    print(json.dumps(response, indent=2))
    return 0 if response.get("statusCode", 200) < 400 or "batchItemFailures" in response else 1


if __name__ == "__main__":
    sys.exit(main())
