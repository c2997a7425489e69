"""`make demo`: the whole system on emulated AWS, end to end, with the guide's query.

Starts moto (S3, DynamoDB) and the Lambda Invoke endpoint on 127.0.0.1, creates the bucket (with its
lifecycle rule) and the videos table, adds three drawn sample videos, embeds them with the batch
function, searches "a man riding a bicycle" with the search function (which calls the CLIP
function), prints the results, stops everything. Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import time

from local.models import choose_model
from local.report import batch_line, results_table
from local.stack import local_system

QUERY = "a man riding a bicycle"


def main() -> int:
    started = time.perf_counter()
    model = choose_model()
    print(f"model: {model.note}")
    with local_system(model.path) as system:
        names = ", ".join(system.functions.values())
        print(f"emulated AWS on 127.0.0.1: bucket {system.bucket}, table {system.table}, functions {names}")
        videos = system.add_samples()
        print(f"added {len(videos)} sample videos; embedding their frames with {system.functions['batch']}:")
        for video_id in videos:
            response = system.invoke("batch", {"video_id": video_id})
            result = json.loads(response["body"])
            if response["statusCode"] != 200 or result["status"] != "complete":
                raise RuntimeError(f"batch failed for {video_id}: {response}")
            print(batch_line(result))
        response = system.invoke("search", {"query": QUERY, "top_k": 5})
        if response["statusCode"] != 200:
            raise RuntimeError(f"search failed: {response}")
        body = json.loads(response["body"])
        print(f'\nsearch "{QUERY}" via {system.functions["search"]} -> {system.functions["clip"]}:')
        print(results_table(body))
        if not model.meaningful:
            print("\nNOTE: the model is tiny and random, so this ranking is meaningless (see above).")
    print(f"\nstopped the local servers; demo took {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:
        print(f"demo failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
