"""`make search-folder FOLDER=~/holiday QUERY="a dog on a beach"`: index a folder of your own images
as one video on the local system, then search it.

Images (JPEG, PNG, WebP) are uploaded in name order as frames/{video_id}/frame_NNNNNN.<ext>, the
batch function embeds them, the search function ranks them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clipsearch.layout import IMAGE_EXTENSIONS, is_valid_id
from local.models import choose_model
from local.report import batch_line, results_table
from local.stack import local_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("query")
    parser.add_argument("--video-id", default="my-folder")
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args(argv)
    if not is_valid_id(args.video_id):
        parser.error("--video-id may only hold letters, digits, '_', '.', '-'")
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    images = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not images:
        parser.error(f"no {', '.join(IMAGE_EXTENSIONS)} images in {args.folder}")
    model = choose_model()
    print(f"model: {model.note}")
    with local_system(model.path, auto_index=False) as system:  # one explicit batch call, as shown
        frames = [(f"frame_{i:06d}{path.suffix.lower()}", path.read_bytes()) for i, path in enumerate(images)]
        system.add_video(args.video_id, frames, timed=False)  # a folder has no timeline
        result = json.loads(system.invoke("batch", {"video_id": args.video_id})["body"])
        print(f"indexed {len(images)} images from {args.folder}:")
        print(batch_line(result))
        for failure in result["rejected"] + result["failed"]:
            print(f"    {failure['frame']}: {failure['error']}")
        response = system.invoke("search", {"query": args.query, "top_k": args.top_k})
        body = json.loads(response["body"])
        if response["statusCode"] != 200:
            print(f"search refused: {body['error']}", file=sys.stderr)
            return 1
        names = {
            f"frames/{args.video_id}/{name}": path.name
            for (name, _), path in zip(frames, images, strict=True)
        }
        print(f'\nsearch "{args.query}":')
        print(results_table(body))
        print("\nframes are your files: " + ", ".join(names[hit["frame_key"]] for hit in body["results"][:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
