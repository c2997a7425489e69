"""Paths measured side by side on a shared machine. Each round runs every path once, the order
rotating from round to round, so that a burst of another job's load falls on the paths of a round
alike; a ratio is taken within each round (a pair), and what is reported is the median of those
per-pair ratios with their range: not a ratio of medians, not blocks of runs. CPU time is the
process's own (`time.process_time`: every thread of it), never vCPUs x wall / throughput.

Standard library only: the benches' child processes import it before they start their clocks.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # CPU seconds of this process, all its threads


def timed(call: Callable[[], object]) -> Sample:
    started, cpu = time.perf_counter(), time.process_time()
    call()
    return Sample(time.perf_counter() - started, time.process_time() - cpu)


def in_rounds(paths: Mapping[str, Callable[[], Sample]], rounds: int) -> dict[str, list[Sample]]:
    """`rounds` samples of each path, one per round, the order of the paths rotating by round."""
    names = list(paths)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(paths[name]())
    return samples


@dataclass(frozen=True)
class Ratio:
    """Per-pair ratios: their median and range."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def __str__(self) -> str:
        return f"{self.median:.2f}× ({min(self.values):.2f}–{max(self.values):.2f})"


def per_pair(numerators: Sequence[float], denominators: Sequence[float]) -> Ratio:
    return Ratio(tuple(a / b for a, b in zip(numerators, denominators, strict=True)))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
