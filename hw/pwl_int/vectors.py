"""Input vectors for integer units (cocotb benches and handoff packages): every code up to 16 bits; for wider
inputs every breakpoint with its neighbours, the extremes and a seeded
random set."""

from __future__ import annotations

import numpy as np

EXHAUSTIVE_MAX_BITS = 16


def int_vectors(spec, n_random: int = 100_000, seed: int = 1) -> np.ndarray:
    f = spec.input
    if f.bits <= EXHAUSTIVE_MAX_BITS:
        return f.codes()
    rng = np.random.default_rng(seed)
    special = [f.min_code, f.min_code + 1, -1, 0, 1, f.max_code - 1, f.max_code]
    for b in spec.breakpoints:
        special += [b - 1, b, b + 1]
    rand = rng.integers(f.min_code, f.max_code, n_random, endpoint=True, dtype=np.int64)
    v = np.concatenate([np.array(special, dtype=np.int64), rand])
    return v[(v >= f.min_code) & (v <= f.max_code)]
