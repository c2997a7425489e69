"""glibc's heap, told to give freed memory back: the search loads about 1 GB of vectors through
short-lived buffers (response bodies, decoded arrays) in 32 reading threads. By default glibc raises
its mmap threshold after each large free (up to 32 MB), so those buffers then come from per-thread
arenas that it keeps: measured through the load path, the process held twice the vectors' size for
good. A fixed threshold keeps large buffers in their own mappings, returned when freed, and a trim
after a load returns what the arenas still hold. Elsewhere (not glibc) both do nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
LARGE_BUFFER_BYTES = 128 * 1024  # glibc's default threshold, kept fixed


@cache
def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


@cache
def keep_large_buffers_apart() -> None:
    """Once per process: large buffers in their own mappings, whatever was freed before."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES)


def give_back_freed_memory() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
