"""Search speed and memory, side by side, in one run; every ratio is the median of per-pair ratios
(A and B alternating, which goes first alternating too) with their range.

- scan: a warm top-10 over N normalised 512-d vectors (videos of 500 frames): the int8 scan with its
  exact rerank (new) against the float16 scan it replaced (old, as on main before #27.6), FAISS
  `IndexFlatIP`, usearch's exact scan of the float16 rows and of int8 codes (unit rows x 127,
  rounded), and the float32 numpy scan (anchors), one query each per round; recall@10 of new (must
  be 1.0) and of usearch int8 against the float32 oracle.
- missing: a warm search (MemoryBackend's find and the refill) with 3,000 videos not yet embedded
  against one with none, this branch and main (`--main`), against moto's S3 and SQS server.
- memory: the search's own load path (VectorCache's reading threads, botocore against moto's S3
  server, the packed decode, MemoryBackend's ranking), cold and on a warm repack of every video, in a
  process of its own: VmHWM and RSS per float16 payload, bytes held per vector, the frame ids' and
  keys' bytes; this branch and main alternately.
- S3 GETs per cold search, packed against per-frame files.

    .venv/bin/python -m bench.bench_search [--sizes 100000 1000000] [--rounds 20] [--main /work/main]
        [--memory-vectors 500000] [--write]

`--write` puts the tables in bench/results/search.md, with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import faiss
import numpy as np
import simsimd
from moto import mock_aws
from moto.server import ThreadedMotoServer
from usearch.compiled import MetricKind
from usearch.index import search as usearch_exact

from bench.search_probe import write_packed
from clipsearch.cache.codes import Codes
from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.cache.video_vectors import Shelf, VideoVectors
from clipsearch.index.ranking import RankOptions, rank
from clipsearch.layout import Frame

DIM = 512
FRAMES_PER_VIDEO = 500
ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "bench" / "search_probe.py"
RESULTS = ROOT / "bench" / "results" / "search.md"
lines: list[str] = []  # what --write puts in the results file


def say(text: str = "") -> None:
    print(text, flush=True)
    lines.append(text)


def unit_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def spread(values: Sequence[float], digits: int = 2) -> str:
    """The median and the range."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def as_videos(vectors: np.ndarray) -> list[VideoVectors]:
    videos = []
    for start in range(0, len(vectors), FRAMES_PER_VIDEO):
        rows = vectors[start : start + FRAMES_PER_VIDEO]
        ids = [f"frame_{i:06d}" for i in range(len(rows))]
        videos.append(
            VideoVectors(
                video_id=f"video-{start // FRAMES_PER_VIDEO:06d}",
                model="bench",
                dim=DIM,
                frame_ids=ids,
                frame_keys=ids,
                frame_indices=np.arange(len(rows), dtype=np.int64),
                codes=Codes.of(rows),
                source="packed",
                version="1",
                covered_frames=len(rows),
            )
        )
    return videos


def float16_top_k(matrices: list[np.ndarray], max_norm: float, query: np.ndarray, top_k: int) -> list[int]:
    """The scan this replaced: SimSIMD's float16 dot product of each video's matrix with the query
    rounded to float16, then a float32 rerank of every row within twice the rounding bound
    (`|q - q16| * the longest row`) of the approximate k-th best."""
    rounded = query.astype(np.float16)
    scores = np.empty(sum(len(matrix) for matrix in matrices), dtype=np.float32)
    start = 0
    for matrix in matrices:
        found = simsimd.cdist(rounded[None, :], matrix, metric="dot", out_dtype="float32")
        scores[start : start + len(matrix)] = np.asarray(found)[0]
        start += len(matrix)
    bound = float(np.linalg.norm(query.astype(np.float64) - rounded)) * max_norm + 1e-4
    kth = np.partition(scores, len(scores) - top_k)[len(scores) - top_k]
    rows = np.flatnonzero(scores >= kth - 2 * bound)
    exact = np.array([matrices[row // FRAMES_PER_VIDEO][row % FRAMES_PER_VIDEO] for row in rows]).astype(
        np.float32
    )
    rescored = exact @ query
    return [int(row) for row in rows[np.lexsort((rows, -rescored))][:top_k]]


def float32_top_k(matrix: np.ndarray, query: np.ndarray, top_k: int) -> list[int]:
    """The float32 numpy scan (and the oracle): matrix-vector product, argpartition, ties by row."""
    scores = matrix @ query
    top = np.argpartition(-scores, top_k - 1)[:top_k]
    return [int(r) for r in top[np.lexsort((top, -scores[top]))]]


def rows_of(shelf: Shelf, hits: list) -> list[int]:  # type: ignore[type-arg]
    return [int(shelf.starts[int(hit.video.video_id[6:])]) + hit.row for hit in hits]


def scan(sizes: list[int], rounds: int) -> None:
    threads = len(os.sched_getaffinity(0))
    faiss.omp_set_num_threads(threads)  # numpy's BLAS uses every core too
    say(f"### Warm top-10 over N normalised {DIM}-d vectors (videos of {FRAMES_PER_VIDEO} frames)")
    say()
    say(
        f"new: int8 codes + exact rerank (one thread); old: float16 scan + float32 rerank (one thread); "
        f"FAISS `IndexFlatIP`, usearch exact (float16 rows; int8 codes, no rerank) and numpy float32 on "
        f"{threads} threads. {rounds} rounds, each a new query through all six in rotating order; ratios "
        "are per round."
    )
    say()
    say(
        "| N | new ms | old ms | new/old | FAISS/new | usearch f16/new | usearch i8/new | numpy/new "
        "| bytes scanned per vector | recall@10: new, usearch i8 |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in sizes:
        say(scan_once(size, rounds, rng))
    say()


def scan_once(size: int, rounds: int, rng: np.random.Generator) -> str:
    halves = unit_rows(rng, size).astype(np.float16)  # as cached
    oracle = halves.astype(np.float32)  # the float32 oracle of the float16 vectors held
    index = faiss.IndexFlatIP(DIM)
    index.add(oracle)
    threads = len(os.sched_getaffinity(0))
    codes = np.clip(np.rint(oracle * 127), -127, 127).astype(np.int8)  # usearch's i8: unit rows x 127

    def usearch_f16(query: np.ndarray) -> object:
        return usearch_exact(halves, query.astype(np.float16), 10, MetricKind.IP, exact=True, threads=threads)

    def usearch_i8(query: np.ndarray) -> object:
        coded = np.clip(np.rint(query * 127), -127, 127).astype(np.int8)
        return usearch_exact(codes, coded, 10, MetricKind.IP, exact=True, threads=threads)

    matrices = [halves[start : start + FRAMES_PER_VIDEO] for start in range(0, size, FRAMES_PER_VIDEO)]
    max_norm = float(np.linalg.norm(oracle, axis=1).max()) * (1 + 1e-3)
    shelf = Shelf.of(as_videos(halves))
    calls: dict[str, Callable[[np.ndarray], object]] = {
        "new": lambda query: rank(shelf, query, RankOptions(top_k=10)),
        "old": lambda query: float16_top_k(matrices, max_norm, query, 10),
        "faiss": lambda query: index.search(query[None, :], 10),
        "usearch f16": usearch_f16,
        "usearch i8": usearch_i8,
        "numpy": lambda query: float32_top_k(oracle, query, 10),
    }
    names = list(calls)
    for name in names:  # warm
        calls[name](unit_rows(rng, 1)[0])
    ms: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        query = unit_rows(rng, 1)[0]
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            calls[name](query)
            ms[name].append((time.perf_counter() - started) * 1000)
    ratio = {name: [a / b for a, b in zip(ms[name], ms["new"], strict=True)] for name in names}
    found = found_i8 = 0
    probes = np.concatenate([unit_rows(rng, 10), oracle[rng.integers(0, size, 10)]])  # random, on a row
    for query in probes:
        truth = set(float32_top_k(oracle, query, 10))
        found += len(set(rows_of(shelf, rank(shelf, query, RankOptions(top_k=10)))) & truth)
        found_i8 += len({int(key) for key in usearch_i8(query).keys} & truth)  # type: ignore[attr-defined]
    recall = found / (10 * len(probes))
    if recall != 1.0:
        raise RuntimeError(f"recall@10 {recall} at {size:,}: the scan must return the oracle's top-10")
    scanned = shelf.videos[0].codes.codes.nbytes // FRAMES_PER_VIDEO
    return (
        f"| {size:,} | {statistics.median(ms['new']):.1f} | {statistics.median(ms['old']):.1f} "
        f"| {spread([1 / r for r in ratio['old']])} | {spread(ratio['faiss'])} "
        f"| {spread(ratio['usearch f16'])} | {spread(ratio['usearch i8'])} "
        f"| {spread(ratio['numpy'])} | {scanned} new, {2 * DIM} old | {recall:.3f}, "
        f"{found_i8 / (10 * len(probes)):.3f} |"
    )


def probe(
    root: Path, *args: str, stdin: Callable[[subprocess.Popen[str]], None] | None = None
) -> dict[str, Any]:
    """bench/search_probe.py in a process of its own, on the clipsearch of `root`."""
    child = subprocess.Popen(
        [sys.executable, str(PROBE), *args],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd="/tmp",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout
    if stdin:
        stdin(child)
    result: dict[str, Any] = json.loads(child.stdout.readline())
    if child.wait():
        raise RuntimeError(f"probe {args} on {root} failed")
    return result


def missing(endpoint: str, main_root: Path | None, count: int, pairs: int) -> None:
    say(f"### A warm search with {count:,} videos not yet embedded against one with none")
    say()
    say(
        f"MemoryBackend's find and the refill (20 videos of 500 frames held), moto's S3 and SQS server, "
        f"every missing video due (the refill's worst case); {pairs} pairs, seconds more per pair."
    )
    say()
    say("| code | refill budget | extra s per search, median (range) |")
    say("|---|---|---|")
    for label, root in [("new", ROOT), ("before (main)", main_root)]:
        if root is not None:
            result = probe(root, "missing", endpoint, str(count), str(pairs))
            say(f"| {label} | {result['budget_s']:.2f} s | {spread(result['extra_s'])} |")
    say()


def memory(endpoint: str, main_root: Path | None, vectors: int, pairs: int) -> None:
    videos = vectors // FRAMES_PER_VIDEO
    payload = videos * FRAMES_PER_VIDEO * DIM * 2
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="bench-memory")
    store = CacheStore(s3, "bench-memory")
    write_packed(store, videos, FRAMES_PER_VIDEO, seed=1)
    seed = [1]

    def repack(child: subprocess.Popen[str]) -> None:
        assert child.stdin
        assert child.stdout
        if child.stdout.readline().strip() != "cold":
            raise RuntimeError("the probe did not load")
        seed[0] += 1
        write_packed(store, videos, FRAMES_PER_VIDEO, seed=seed[0])  # every video anew
        child.stdin.write("repacked\n")
        child.stdin.flush()

    roots = [("new", ROOT)] + ([("before (main)", main_root)] if main_root else [])
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in roots}
    for pair in range(pairs):
        for label, root in roots if pair % 2 == 0 else roots[::-1]:
            runs[label].append(
                probe(
                    root, "memory", endpoint, "bench-memory", str(videos), str(FRAMES_PER_VIDEO), stdin=repack
                )
            )
    say(
        f"### Memory through the search's load path, {vectors:,} vectors ({payload / 2**20:,.0f} MiB float16)"
    )
    say()
    say(
        "VectorCache's 32 reading threads, botocore against moto's S3 server (in another process), the "
        "packed decode, MemoryBackend's ranking, in a process of its own; cold, then a warm repack of "
        f"every video. RSS and its high-water mark (VmHWM) over the float16 payload; {pairs} runs of "
        "each, alternating."
    )
    say()
    say(
        "| code | peak cold | held cold | peak warm repack | held after | bytes per vector held | ids, keys |"
    )
    say("|---|---|---|---|---|---|---|")
    count = payload / DIM / 2
    for label, _ in roots:
        got = runs[label]

        def of(field: str, per: float, digits: int = 2, got: list[dict[str, float]] = got) -> str:
            return spread([r[field] / per for r in got], digits)

        say(
            f"| {label} | {of('cold_peak', payload)}× | {of('cold_held', payload)}× "
            f"| {of('warm_peak', payload)}× | {of('warm_held', payload)}× "
            f"| {of('warm_held', count, 0)} | {of('names', count, 0)} |"
        )
    if main_root:
        say()
        pairs_of = list(zip(runs["new"], runs["before (main)"], strict=True))
        say(
            "new/before per pair: peak cold "
            f"{spread([a['cold_peak'] / b['cold_peak'] for a, b in pairs_of])}, peak warm "
            f"{spread([a['warm_peak'] / b['warm_peak'] for a, b in pairs_of])}, held "
            f"{spread([a['warm_held'] / b['warm_held'] for a, b in pairs_of])}"
        )
    say()


def gets_per_search(videos: int) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    rng = np.random.default_rng(1)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        counts = {}
        for layout in ("packed", "frames"):
            bucket = f"bench-{layout}"
            s3.create_bucket(Bucket=bucket)
            store = CacheStore(s3, bucket)
            ids = [f"video-{v}" for v in range(videos)]
            for video_id in ids:
                vectors = unit_rows(rng, FRAMES_PER_VIDEO)
                frame_ids = [f"frame_{i:06d}" for i in range(FRAMES_PER_VIDEO)]
                keys = [f"frames/{video_id}/{f}.webp" for f in frame_ids]
                if layout == "packed":
                    store.write_packed(
                        PackedVideo(video_id, "bench", DIM, 0.0, frame_ids, keys, vectors.astype(np.float16)),
                        replacing=None,
                    )
                else:
                    for frame_id, key, vector in zip(frame_ids, keys, vectors, strict=True):
                        store.write_frame(Frame(video_id, frame_id, key), vector, model="bench")
            cache = VectorCache(store, max_vectors=10**7, revalidate_seconds=60)
            gets = Counter[str]()

            def count(counter: Counter[str] = gets, **_: object) -> None:
                counter.update(["get"])

            s3.meta.events.register("before-call.s3.GetObject", count)
            if not all(load.vectors for load in cache.get_many(ids).loads.values()):
                raise RuntimeError(f"{layout}: a video did not load")
            counts[layout] = gets["get"]
            s3.meta.events.unregister("before-call.s3.GetObject", count)
        say(f"### S3 GETs for one cold search of {videos} videos × {FRAMES_PER_VIDEO} frames")
        say()
        ratio = counts["frames"] / counts["packed"]
        say(f"packed: {counts['packed']:,}; per-frame files: {counts['frames']:,} ({ratio:.0f}×)")


def loads(averages: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in averages)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    used = len(os.sched_getaffinity(0))
    return (
        f"{cpu}, {os.cpu_count()} vCPUs ({used} used by this run), {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--missing", type=int, default=3000)
    parser.add_argument("--missing-pairs", type=int, default=10)
    parser.add_argument("--memory-vectors", type=int, default=500_000)
    parser.add_argument("--memory-pairs", type=int, default=2)
    parser.add_argument("--main", type=Path, default=None, help="a checkout of main: its code is the before")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line per request
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    scan(args.sizes, args.rounds)
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        missing(endpoint, args.main, args.missing, args.missing_pairs)
        memory(endpoint, args.main, args.memory_vectors, args.memory_pairs)
    finally:
        server.stop()
    gets_per_search(args.videos)
    load_after = os.getloadavg()
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        header = [
            f"Measured {started} on {machine()}; load average (1, 5, 15 min) {loads(load_before)} "
            f"before and {loads(load_after)} after (the machine is shared: other jobs ran meanwhile).",
            "",
            f"`python -m bench.bench_search {' '.join(sys.argv[1:])}`",
            "",
        ]
        RESULTS.write_text("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    main()
