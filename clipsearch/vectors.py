"""Vector encodings shared by the CLIP, batch and search functions (numpy only)."""

from __future__ import annotations

import base64
import io

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


def to_f16_b64(vector: Vector) -> str:
    """Little-endian float16 bytes, base64: about 1 KB per 512-d vector instead of about 10 KB of JSON."""
    return base64.b64encode(vector.astype("<f2").tobytes()).decode("ascii")


def from_f16_b64(text: str) -> Vector:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<f2").astype(np.float32)


def to_npy_f16(vector: Vector) -> bytes:
    """The cache file format: a float16 `.npy` of shape (dim,), loadable without pickle."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(vector, dtype="<f2").reshape(-1), allow_pickle=False)
    return buffer.getvalue()


def from_npy(data: bytes) -> Vector:
    return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)


def unit_vector(vector: Vector) -> Vector | None:
    """`vector` scaled to length 1 in float32, None when it has no direction (zero, or not finite).
    Scaled by its largest magnitude first, so that squaring large or tiny numbers cannot overflow
    or underflow."""
    scale = float(np.max(np.abs(vector))) if vector.size else 0.0
    if not np.isfinite(scale) or scale == 0.0:
        return None
    scaled = vector.astype(np.float64) / scale
    unit = (scaled / np.linalg.norm(scaled)).astype(np.float32)
    return unit if np.all(np.isfinite(unit)) else None
