"""Draws the house: clipsearch's packages in their layers (from .importlinter) and the imports that
really run between them (from the code, through grimp), as a Mermaid diagram in
docs/developers/architecture.md. `python -m scripts.architecture` rewrites it; `--check` fails when
the page no longer matches the code (the test suite runs it)."""

from __future__ import annotations

import argparse
import configparser
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "developers" / "architecture.md"
BEGIN, END = "<!-- architecture:begin (scripts/architecture.py writes this) -->", "<!-- architecture:end -->"
HANDLERS = ("lambda_clip", "lambda_search", "lambda_batch", "lambda_extract")


def layers() -> list[list[str]]:
    """The layers of the runtime contract, top first; each a list of sibling packages."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    lines = parser["importlinter:contract:runtime-layers"]["layers"].split("\n")
    return [[part.strip() for part in line.replace(":", "|").split("|")] for line in lines if line.strip()]


def unit(module: str, units: list[str]) -> str | None:
    """The package or foundation module (or handler) a module belongs to."""
    for name in units:
        if module == name or module.startswith(f"{name}."):
            return name
    return None


def edges(units: list[str]) -> set[tuple[str, str]]:
    graph = grimp.build_graph("clipsearch", *HANDLERS)
    found = set()
    for module in graph.modules:
        source = unit(module, units)
        for imported in graph.find_modules_directly_imported_by(module):
            target = unit(imported, units)
            if source and target and source != target:
                found.add((source, target))
    return found


def node(name: str) -> str:
    return name.replace(".", "_")


def diagram() -> str:
    rows = layers()
    units = [*HANDLERS, *(name for row in rows for name in row)]
    lines = ["```mermaid", "flowchart TD"]
    lines.append('    subgraph handlers["handlers (lambda_*/app.py)"]')
    lines += [f'        {node(h)}["{h}"]' for h in HANDLERS]
    lines.append("    end")
    for number, row in enumerate(rows, start=1):
        lines.append(f'    subgraph layer{number}["layer {number}"]')
        lines += [f'        {node(name)}["{name.removeprefix("clipsearch.")}"]' for name in row]
        lines.append("    end")
    lines += [f"    {node(a)} --> {node(b)}" for a, b in sorted(edges(units))]
    lines.append("```")
    return "\n".join(lines)


def page_with(current: str) -> str:
    before, _, rest = current.partition(BEGIN)
    _, _, after = rest.partition(END)
    return f"{before}{BEGIN}\n{diagram()}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is not up to date")
    args = parser.parse_args(argv)
    current = PAGE.read_text()
    wanted = page_with(current)
    if args.check:
        if wanted != current:
            print(
                f"{PAGE.relative_to(ROOT)} is out of date: run python -m scripts.architecture",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
