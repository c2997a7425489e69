"""A bench's results as markdown: printed, and with `--write` kept in bench/results/<bench>.md
under a header that says which machine measured them, under what load, when, with what."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """CPU model, cores, load average, date, Python and ONNX Runtime versions."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    try:
        ort = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        ort = "not installed"
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, load average {load} (1, 5, 15 min) at the end, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, Python {platform.python_version()}, ONNX Runtime {ort}"
    )


def load() -> str:
    """The 1-minute load average now: printed beside each row it ends."""
    return f"{os.getloadavg()[0]:.2f}"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines + (["", *self.notes] if self.notes else []))


def document(bench: str, summary: str, tables: list[Table]) -> str:
    header = f"## {bench}\n\n{summary}\n\nMachine: {machine()}.\n"
    return "\n\n".join([header, *(table.markdown() for table in tables)]) + "\n"


def write(bench: str, text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{bench}.md"
    target.write_text(text)
    return target
