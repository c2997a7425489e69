"""What CI builds, from the configuration (the one home of roles, build arguments and tags):

    python -m scripts.image_plan --tag SHA [--base SHA] [-c key=value ...]  (make image-plan)

prints `images=<JSON list>`, `export=<JSON>` (the image the export stage is built from, or
nothing) and `github-environment=<name>` for $GITHUB_OUTPUT. Each image: its role, Dockerfile,
build arguments (newline separated, as docker/build-push-action takes them), repository, tag (SHA
plus its build arguments' values) and whether it is built on the export stage. With --base (a pull
request), only the images whose inputs changed since that commit: the Dockerfile, its ignore file
and what that file lets in.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
from pathlib import Path

from deployment.context import config_with_overrides
from deployment.derived import ROLES

ROOT = Path(__file__).resolve().parent.parent


def inputs(role: str) -> list[str]:
    """Path patterns of what `lambda_<role>/Dockerfile` is built from (fnmatch: `*` spans folders)."""
    ignore = ROOT / f"lambda_{role}" / "Dockerfile.dockerignore"
    included = [line[1:] for line in ignore.read_text().splitlines() if line.startswith("!")]
    return [f"lambda_{role}/Dockerfile", f"lambda_{role}/Dockerfile.dockerignore", *included]


def changed_since(base: str) -> list[str]:
    command = ["git", "diff", "--name-only", f"{base}...HEAD"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    return result.stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.image_plan", description=__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--base", help="a pull request's base commit: only the images changed since")
    args, _ = parser.parse_known_args(argv)
    config = config_with_overrides([*args.context, f"image_tag={args.tag}"])
    changed = changed_since(args.base) if args.base else None
    images = []
    for role in ROLES:
        patterns = [pattern.replace("**/", "") for pattern in inputs(role)]
        if changed is not None and not any(fnmatch.fnmatch(path, p) for path in changed for p in patterns):
            continue
        settings = getattr(config, role)
        images.append(
            {
                "role": role,
                "file": f"lambda_{role}/Dockerfile",
                "build-args": "\n".join(f"{key}={value}" for key, value in settings.build_args.items()),
                "repository": settings.repository_name,
                "tag": settings.image_tag,
                # built on the shared export stage (the model), which CI builds once before them
                "export": " AS export" in (ROOT / f"lambda_{role}" / "Dockerfile").read_text(),
            }
        )
    print(f"images={json.dumps(images, separators=(',', ':'))}")
    # the export stage's build: the first model image's Dockerfile and build arguments, or nothing
    export = next((image for image in images if image["export"]), None)
    print(f"export={json.dumps(export, separators=(',', ':')) if export else ''}")
    print(f"github-environment={config.ci_github_environment}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
