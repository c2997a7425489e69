"""A video's float16 vectors held as int8 codes to scan and the bytes that make them exact again.

A video's rows are scaled by s = 2^p (the smallest power of two with 127 s >= its largest element)
and coded as c = rint(row / s) (int8, |c| <= 127): the scan reads these 512 bytes per 512-d row,
half of the float16. The row itself is kept, losslessly, as the low byte of each float16 (`low`,
one byte per element) and, where the code does not pin the rest, its high byte (`high`):

- |c| >= 8, 7 or 5: the float16 lies in [s (c - 1/2), s (c + 1/2)] (open at the end rint leaves to
  the other, even, code) and K = |c| s is itself a float16 (a 7-bit integer times a power of two;
  normal, as s >= 2^-16: `SMALLEST_SCALE`). From 8 up that interval holds at most 128 float16 patterns
  below K (the binade under 8 s steps by s/256) and 64 above it (s/128 from 8 s); at 7 and 5, 127
  either side (s/256). So the one pattern in [K - 128, K + 127] with the kept low byte is the value.
- |c| <= 4 or 6 (`wide`): the interval spans 255 patterns or more (c = 0 holds every tiny value):
  the high byte is kept too, about a fifth of the elements of a unit row.

So a 512-d row costs about 1.13 KB held (512 B of codes, 512 B of low bytes, about 100 high bytes
and a 4-byte offset) against 1 KB as float16, and the scan reads 0.5 KB of it. The codes' error
`row - s c` is at most s/2 per element; the longest such error of a video's rows (`residual`: rows'
lengths differ by a few per cent, 512 roundings each) bounds each row's scan error for any query
(clipsearch.index.ranking).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import simsimd

CODE_MAX = 127
# Below this scale K = 5 * scale would be a subnormal float16, outside the argument above: unit rows
# of up to about 60,000 dimensions stay above it.
SMALLEST_SCALE = 2.0**-16
_BLOCK_ROWS = 128


def wide(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    """The elements whose high byte is kept: the code does not pin it (see above)."""
    magnitude = np.abs(codes)  # no code is -128
    return (magnitude <= 4) | (magnitude == 6)


@dataclass(frozen=True)
class Codes:
    codes: npt.NDArray[np.int8]  # (n, dim): rint(row / scale)
    low: npt.NDArray[np.uint8]  # (n, dim): each float16's low byte
    high: npt.NDArray[np.uint8]  # the high bytes of the `wide` elements, row by row
    high_starts: npt.NDArray[np.int32]  # (n + 1,): row i's high bytes are high[starts[i]:starts[i + 1]]
    exponent: int  # the video's scale is 2^exponent
    residual: float  # the longest |row - scale * codes|, rounded up: any row's error
    coded_norm: float  # the longest |scale * codes|, rounded up: bounds the query's rounding

    @property
    def scale(self) -> float:
        return 2.0**self.exponent

    @property
    def nbytes(self) -> int:
        return sum(part.nbytes for part in (self.codes, self.low, self.high, self.high_starts))

    @classmethod
    def of(cls, vectors: npt.NDArray[np.float16]) -> Codes:
        """The codes of unit-length float16 rows (the cache validates them so)."""
        rows = np.ascontiguousarray(vectors, dtype=np.float16)
        # 127 * scale >= the largest magnitude
        biggest = np.float32(max(rows.max(), -rows.min()) if rows.size else 1)  # no rows: any scale
        mantissa, exponent = np.frexp(biggest / np.float32(CODE_MAX))  # exact (a log2 would round)
        exponent -= mantissa == 0.5
        scale = np.float32(2.0**exponent)
        if scale < SMALLEST_SCALE:
            raise ValueError(f"rows too short to code (largest element {biggest}): not unit rows")
        codes = np.empty(rows.shape, dtype=np.int8)
        squares = np.zeros(max(1, len(rows)))
        for start in range(0, len(rows), _BLOCK_ROWS):  # float32 a block at a time: little held
            scaled = rows[start : start + _BLOCK_ROWS].astype(np.float32)
            scaled /= scale  # exact: a power of two
            rounded = np.rint(scaled)
            codes[start : start + len(rounded)] = rounded
            scaled -= rounded  # the residual over the scale, exact in float32
            # SimSIMD's row-wise dot products: float32 sums
            squares[start : start + len(rounded)] = np.asarray(simsimd.dot(scaled, scaled))
        coded = np.asarray(simsimd.dot(codes, codes), dtype=np.float64) if len(rows) else np.zeros(1)
        kept = wide(codes)
        halves = rows.view(np.uint8).reshape(*rows.shape, 2)  # each float16's two bytes
        low, high = (0, 1) if sys.byteorder == "little" else (1, 0)
        return cls(
            codes=codes,
            low=np.ascontiguousarray(halves[..., low]),
            high=halves[..., high][kept],
            high_starts=np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32),
            exponent=int(exponent),
            # 1e-4: a float32 sum of 512 squares is off by at most 512 * 2^-24 of it
            residual=float(np.sqrt(squares.max())) * float(scale) * (1 + 1e-4),
            coded_norm=float(np.sqrt(coded.max())) * float(scale) * (1 + 1e-6),
        )

    def rows(self, which: npt.NDArray[np.intp]) -> npt.NDArray[np.float16]:
        """The float16 rows `which`, exactly as they were coded."""
        return decode([self.take(which)])

    def take(self, which: npt.NDArray[np.intp]) -> Taken:
        """What rows `which` are made of, to decode with other videos' rows at once (`decode`)."""
        if len(which) == 1:  # the usual case of a rerank: one row of a video (views, no copies)
            row = int(which[0])
            high = self.high[self.high_starts[row] : self.high_starts[row + 1]]
            return Taken(self.codes[row : row + 1], self.low[row : row + 1], high, self.exponent)
        starts, ends = self.high_starts[which], self.high_starts[np.asarray(which) + 1]
        lengths = ends - starts
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return Taken(self.codes[which], self.low[which], self.high[positions], self.exponent)


@dataclass(frozen=True)
class Taken:
    codes: npt.NDArray[np.int8]
    low: npt.NDArray[np.uint8]
    high: npt.NDArray[np.uint8]
    exponent: int


def decode(parts: list[Taken]) -> npt.NDArray[np.float16]:
    """The float16 rows the parts were taken from, in order, exactly as they were coded."""
    codes = np.concatenate([part.codes for part in parts])
    low = np.concatenate([part.low for part in parts]).astype(np.uint16)
    # K = |c| 2^p as float16 bits: |c|'s own pattern (at 2^0), p binades up. uint16 arithmetic
    # wraps modulo 2^16, which leaves every sum below right (each true value is in [0, 2^15)).
    shifts = np.repeat([part.exponent for part in parts], [len(part.codes) for part in parts])
    centre = _UNIT_PATTERNS[np.abs(codes)] + (shifts << 10).astype(np.uint16)[:, None]
    bits = centre + ((low - centre + 128) & 0xFF) - 128  # the one in [K - 128, K + 127] with `low`
    bits |= (codes < 0).astype(np.uint16) << 15
    kept = wide(codes)
    bits[kept] = (np.concatenate([part.high for part in parts]).astype(np.uint16) << 8) | low[kept]
    return bits.view(np.float16)


# The float16 bits of the integers 0..127 (the code magnitudes): c * 2^p has these plus p << 10.
_UNIT_PATTERNS = np.arange(CODE_MAX + 1, dtype=np.float16).view(np.uint16)
