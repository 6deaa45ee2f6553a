"""Fixed-point formats: a code ``q`` means the real value ``q * 2**-frac``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Integer unit formats and how many bits they add to every INT8 default format
#: (same ranges, finer steps); wide tables reuse the INT8 breakpoints.
#: int10/int12 (issue 13): 2/4 more bits, e.g. for direct-lookup tables.
WIDEN = {"int8": 0, "int10": 2, "int12": 4, "int16": 8, "int32": 24}


@dataclass(frozen=True)
class Fixed:
    """A two's-complement (``signed``) or unsigned integer of ``bits`` bits
    with ``frac`` fractional bits. ``frac`` may be negative or exceed
    ``bits``; only the scale changes."""

    bits: int
    signed: bool
    frac: int

    @property
    def min_code(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac)

    def fits(self, code: int) -> bool:
        return self.min_code <= code <= self.max_code

    def codes(self) -> np.ndarray:
        """Every code of the format, ascending (only sensible up to 16 bits)."""
        return np.arange(self.min_code, self.max_code + 1, dtype=np.int64)

    def to_real(self, q):
        return np.asarray(q, dtype=np.float64) * self.lsb

    def quantize(self, x):
        """Nearest code to real ``x``, ties rounded up (towards +inf, the
        same half-up rule the datapath uses), saturated to the format."""
        q = np.floor(np.asarray(x, dtype=np.float64) * math.ldexp(1.0, self.frac) + 0.5)
        return np.minimum(np.maximum(q, self.min_code), self.max_code).astype(np.int64)

    def to_json(self) -> dict:
        return {"bits": self.bits, "signed": self.signed, "frac": self.frac}

    def label(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}.{self.frac}"


def round_half_up(a, s: int):
    """``a * 2**-s`` rounded half up, for integer arrays or Python ints:
    ``(a + 2**(s-1)) >> s`` (arithmetic shift) when ``s > 0``, else the
    exact left shift ``a << -s``. The one rounding rule of every datapath."""
    return (a + (1 << (s - 1))) >> s if s > 0 else a << -s


def saturate(a, f: Fixed):
    """Clamp to the codes of format ``f`` (works on object arrays too)."""
    return np.minimum(np.maximum(a, f.min_code), f.max_code)


def pack_lanes(values, width: int) -> int:
    """One port word from per-lane codes (two's complement), lane i in bits
    ``[i*width, (i+1)*width)``; lanes past ``values`` are 0. The benches and
    the handoff vectors of every multi-lane unit build their words with it."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word
