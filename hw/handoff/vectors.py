"""Test vectors of the handoff testbench, made by the golden models.

* integer elementwise units: every input code up to 16 bits; wider inputs
  get the extremes, every breakpoint with its neighbours and a seeded random
  set;
* FP32 units: the binary32 special values (zeros, subnormals, normals at the
  edges, infinities, NaNs, both signs), every breakpoint with its
  neighbours and its negation, random values around the table and random bit
  patterns;
* row-wise units: several rows (short, full length, equal values,
  saturating inputs, softmax's too-long row, layernorm's misplaced
  ``in_last``) with their expected outputs and flags.

Everything is deterministic (fixed seeds), so regenerating the package
gives the same files.

A ``LANES=P`` unit's files are the one-lane unit's vectors (the same n
words); the bench (:func:`hw.handoff.tb.elementwise`) drives lane l with
them rotated by l*n/P (:func:`lane_index`), so every vector runs on every
lane and the lanes differ in every clock.
"""

from __future__ import annotations

import numpy as np

from hw.pwl_int.vectors import int_vectors

N_RANDOM = 10_000     # integer inputs wider than 16 bits
N_RANDOM_FP32 = 6_000
SEED = 8


def hexwords(values, bits: int, comments: list[str] | None = None) -> str:
    """``$readmemh`` text: one word per line, ``bits`` wide, two's complement."""
    digits = max(1, (bits + 3) // 4)
    mask = (1 << bits) - 1
    if comments is None:
        return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values)
    return "".join(f"{int(v) & mask:0{digits}x} // {c}\n" for v, c in zip(values, comments))


# -- elementwise -----------------------------------------------------------------

def int_inputs(spec) -> np.ndarray:
    return int_vectors(spec, N_RANDOM, SEED)


def fp32_inputs(spec) -> np.ndarray:
    from hw.fp32 import model as fpm
    from hw.fp32.vectors import special_values
    from hw.pwl_fp32.model import table_bits
    rng = np.random.default_rng(SEED)
    bps = table_bits(spec)[0].astype(np.int64)
    near = np.concatenate([bps + d for d in (-2, -1, 0, 1, 2)] + [bps ^ 0x80000000]) & 0xFFFFFFFF
    lo, hi = float(min(spec.breakpoints, default=-1.0)), float(max(spec.breakpoints, default=1.0))
    span = max(hi - lo, 1.0)
    inside = fpm.bits(rng.uniform(lo - span, hi + span, N_RANDOM_FP32 // 2).astype(np.float32))
    uniform = rng.integers(0, 1 << 32, N_RANDOM_FP32 - N_RANDOM_FP32 // 2, dtype=np.uint64)
    xs = np.concatenate([np.asarray(special_values(), dtype=np.uint64), near.astype(np.uint64),
                         np.asarray(inside, dtype=np.uint64), uniform])
    return xs.astype(np.uint32)


def elementwise(spec, ftz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, expected outputs) as integers (codes, or binary32 bit patterns)."""
    if spec.is_fp32:
        from hw.pwl_fp32.model import evaluate
        x = fp32_inputs(spec)
        return x.astype(np.int64), np.asarray(evaluate(spec, x, ftz), dtype=np.int64)
    from hw.impls import evaluate          # any integer impl: pwl, uniform, table
    x = int_inputs(spec)
    return x, np.asarray(evaluate(spec, x), dtype=np.int64)


def lane_index(t: int, lane: int, n: int, lanes: int) -> int:
    """The vector lane ``lane`` of a ``lanes``-lane unit gets in clock ``t``
    of a pass over ``n`` vectors: ``(t + lane*n//lanes) % n`` (what the bench
    computes in Verilog, and :mod:`sim.lanes` in the cocotb benches)."""
    return (t + lane * n // lanes) % n


def alt_spec(spec):
    """A second table of the same formats (its implementation's
    ``regmap.alternate``: values, coefficients or slopes and intercepts in
    reverse order) that the testbench loads first through ``cfg_*``, to show
    that the load sequence really replaces the table."""
    from hw import impls
    return impls.regmap(spec).alternate(spec)


def evaluate(spec, x, ftz: bool = False) -> np.ndarray:
    if spec.is_fp32:
        from hw.pwl_fp32.model import evaluate as ev
        return np.asarray(ev(spec, np.asarray(x, dtype=np.int64).astype(np.uint32), ftz), dtype=np.int64)
    from hw.impls import evaluate as ev
    return np.asarray(ev(spec, np.asarray(x, dtype=np.int64)), dtype=np.int64)


# -- row-wise ----------------------------------------------------------------------

def rowwise(md, n_passes: int = 1, n_lanes: int = 1) -> dict:
    """Input stream and expected output stream of a row-wise golden model;
    ``n_passes`` 2: every row streamed twice (``ROW_STORE=none``), one row
    with pass 2's ``in_last`` misplaced besides pass 1's; ``n_lanes`` > 1:
    packed transfers (:func:`hw.rowwise.transfers`), so a "value" is a
    transfer's word."""
    from hw.rowwise import stimulus, transfers
    rows, lasts = stimulus(md).handoff_rows(md, np.random.default_rng(SEED))
    seconds = [None] * len(rows)
    if n_passes == 2:
        rows.append(list(rows[0]))
        lasts.append([j == len(rows[0]) - 1 for j in range(len(rows[0]))])
        seconds.append([j == 3 for j in range(len(rows[0]))])        # pass 2 only: in_last early
    ins, outs = [], []
    for r, ls, l2 in zip(rows, lasts, seconds):
        t, (y, flags) = transfers(md, n_passes, r, ls, l2, n_lanes)
        ins += [(v, bool(la)) for v, la in t]
        outs += [(int(v), j == len(y) - 1, bool(fl)) for j, (v, fl) in enumerate(zip(y, flags))]
    return {"rows": rows, "in": ins, "out": outs, "flag": md.flag}
