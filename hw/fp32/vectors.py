"""Operands for the binary32 testbenches (numpy only, deterministic by seed).

:func:`special_values` are the boundary cases every pair of which is
checked; :func:`random_pairs` mixes uniform bit patterns with operands
built to reach the datapath's hard corners (alignment, cancellation,
underflow into subnormals, overflow, rounding ties).
"""

from __future__ import annotations

import numpy as np

_POSITIVE = [
    0x00000000,  # +0
    0x00000001,  # smallest subnormal
    0x00000002, 0x00000003,
    0x00400000,  # subnormal, half of the range
    0x007FFFFF,  # largest subnormal
    0x00800000,  # smallest normal
    0x00800001,
    0x00FFFFFF, 0x01000000,
    0x1F800000,  # 2^-64: squares/products land in the subnormal range
    0x1F7FFFFF,
    0x20000000,  # 2^-63: 2^-63 * 2^-63 = 2^-126 (smallest normal)
    0x1FFFFFFF,  # just below 2^-63: product rounds up into the normal range
    0x33800000,  # 2^-24: half an ulp of 1.0 (tie when added to 1)
    0x33800001,
    0x34000000,  # 2^-23: one ulp of 1.0
    0x3EAAAAAB,  # 1/3
    0x3F000000,  # 0.5
    0x3F000001,
    0x3F7FFFFF,  # 1 - ulp
    0x3F800000,  # 1
    0x3F800001,  # 1 + ulp
    0x3F800800,  # 1 + 2^-12: square is 1 + 2^-11 + 2^-24, a tie
    0x3F801000,
    0x3FC00000,  # 1.5
    0x3FFFFFFF,  # just below 2
    0x40000000,  # 2
    0x40400000,  # 3
    0x40490FDB,  # pi
    0x4B000000,  # 2^23
    0x4B000001,
    0x4B800000,  # 2^24
    0x5F800000,  # 2^64: square overflows
    0x5F7FFFFF,  # square stays just finite
    0x7F000000,  # 2^127
    0x7F7FFFFE,
    0x7F7FFFFF,  # largest finite
    0x7F800000,  # infinity
    0x7FC00000,  # canonical quiet NaN
    0x7FC00001,  # quiet NaN with payload
    0x7F800001,  # signalling NaN
    0x7FFFFFFF,  # NaN, all payload bits
]


def special_values() -> np.ndarray:
    """Boundary values (43 of them), each with both signs."""
    p = np.array(_POSITIVE, dtype=np.uint32)
    return np.concatenate([p, p | np.uint32(0x80000000)])


def all_pairs(values) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.uint32)
    return np.repeat(v, len(v)), np.tile(v, len(v))


def _fractions(rng, n) -> np.ndarray:
    """23-bit fractions: uniform, sparse, dense and runs of ones/zeros (ties, carries)."""
    u = lambda: rng.integers(0, 1 << 23, n, dtype=np.uint32)
    kind = rng.integers(0, 5, n)
    run = ((np.uint32(0x7FFFFF) >> rng.integers(0, 24, n).astype(np.uint32))
           << rng.integers(0, 23, n).astype(np.uint32)) & np.uint32(0x7FFFFF)
    return np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                     [u(), u() & u() & u(), u() | u() | u(), run], ~run & np.uint32(0x7FFFFF)
                     ).astype(np.uint32)


def _pack(sign, exp, frac) -> np.ndarray:
    return ((np.asarray(sign, dtype=np.uint32) << np.uint32(31))
            | (np.clip(exp, 0, 255).astype(np.uint32) << np.uint32(23))
            | np.asarray(frac, dtype=np.uint32)).astype(np.uint32)


def random_pairs(op: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` operand pairs for ``op`` ("mul", "add" or "cmp").

    A quarter uniform 32-bit patterns; a quarter with exponents within +-26
    of each other (alignment, near and far paths); a quarter aimed at the
    op's worst region (``add``/``cmp``: near-cancellation, b = -a nudged by
    a few ulps; ``mul``: exponent sums near underflow and overflow); a
    quarter with structured fractions over the whole exponent range.
    """
    rng = np.random.default_rng([seed, {"mul": 1, "add": 2, "cmp": 3}[op]])
    q = [n // 4] * 3
    q.append(n - sum(q))
    sign = lambda k: rng.integers(0, 2, k)
    # 1: uniform bit patterns
    a1 = rng.integers(0, 1 << 32, q[0], dtype=np.uint64).astype(np.uint32)
    b1 = rng.integers(0, 1 << 32, q[0], dtype=np.uint64).astype(np.uint32)
    # 2: nearby exponents
    k = q[1]
    ea = rng.integers(0, 255, k)
    eb = ea + rng.integers(-26, 27, k)
    a2 = _pack(sign(k), ea, _fractions(rng, k))
    b2 = _pack(sign(k), np.clip(eb, 0, 254), _fractions(rng, k))
    # 3: the op's hard region
    k = q[2]
    if op == "mul":
        ea = rng.integers(0, 255, k)
        target = np.where(rng.integers(0, 2, k) == 0,
                          rng.integers(-30, 4, k),          # result exponent near underflow
                          rng.integers(250, 258, k))        # ... and near overflow
        eb = np.clip(target + 127 - ea, 0, 254)
        a3 = _pack(sign(k), ea, _fractions(rng, k))
        b3 = _pack(sign(k), eb, _fractions(rng, k))
    else:
        ea = rng.integers(0, 255, k)
        a3 = _pack(sign(k), ea, _fractions(rng, k))
        nudge = rng.integers(-6, 7, k).astype(np.int64)
        b3 = ((a3.astype(np.int64) ^ 0x80000000) + nudge).astype(np.uint32)
        b3 = np.where(rng.integers(0, 2, k) == 0, b3, b3 ^ np.uint32(0x80000000)).astype(np.uint32)
    # 4: structured fractions, any exponent (0 and 255 included)
    k = q[3]
    a4 = _pack(sign(k), rng.integers(0, 256, k), _fractions(rng, k))
    b4 = _pack(sign(k), rng.integers(0, 256, k), _fractions(rng, k))
    a = np.concatenate([a1, a2, a3, a4])
    b = np.concatenate([b1, b2, b3, b4])
    perm = rng.permutation(n)
    return a[perm], b[perm]
