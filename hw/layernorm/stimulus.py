"""The rows the layernorm unit (and rmsnorm, :mod:`hw.rmsnorm.stimulus`) is
exercised with: the cocotb bench's (:mod:`sim.tb_rowwise`), the handoff
vectors' (:mod:`hw.handoff.vectors`) and the accuracy benchmark's
(:mod:`eval.bench_rowwise`), one place per op (looked up by
:func:`hw.rowwise.stimulus`). Rows of exactly ``row_len`` codes: identical
values, saturating inputs, outliers, tiny variance, ``in_last`` misplaced."""

from __future__ import annotations

import random

import numpy as np


def timing_lengths(md) -> list[int]:
    """Row lengths of the bench's full-rate timing phase."""
    return [md.row_len]


def bench_rows(md, rng: random.Random) -> list[list[int]]:
    """The cocotb bench's rows (phase 2, and phase 3 with loaded gamma/beta): every kind, ``rng`` its seed's."""
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_len
    sc = 1 << max(md.input.bits - 8, 0)                              # wider inputs: same shapes, scaled
    rows = []
    for _ in range(8):
        mu, sd = rng.uniform(-30, 30) * sc, rng.choice([1, 5, 20, 60]) * sc
        rows.append([max(lo, min(hi, round(rng.gauss(mu, sd)))) for _ in range(n)])
    rows += [[-7] * n, [0] * n, [hi] * n, [lo] * n]                  # identical values -> 0 (or beta)
    rows.append([rng.choice([lo, hi]) for _ in range(n)])            # saturating inputs
    rows.append([lo] + [hi] * (n - 1))                               # one outlier
    rows.append([rng.randint(lo, hi) for _ in range(n)])
    rows.append([rng.choice([0, 1]) for _ in range(n)])              # tiny variance: small k
    return rows


def bench_lasts(md, rows, n_passes: int):
    """The bench's ``in_last`` per row (two misplaced) and, for a multi-pass unit, the last pass's."""
    lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
    seconds = None
    lasts[2][min(5, len(lasts[2]) - 2)] = True                       # in_last early: flagged
    lasts[3][-1] = False                                             # in_last missing: flagged
    n = md.row_len
    if n_passes > 1:                                                 # only one pass misplaced
        seconds = [None] * len(rows)
        seconds[4] = [j == min(5, n - 2) for j in range(n)]          # pass 2 early (from there on)
        seconds[5] = [False] * n                                     # pass 2 missing (the last output)
        seconds[2] = [j == n - 1 for j in range(n)]                  # pass 1 early only (every output)
    return lasts, seconds


def handoff_rows(md, rng) -> tuple[list[list[int]], list[list[bool]]]:
    """The handoff vectors' rows and their ``in_last`` flags (``rng``: numpy, the vectors' fixed seed)."""
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_len
    rows = []
    for _ in range(4):
        mu, sd = rng.uniform(-30, 30), [1, 5, 20, 60][len(rows)]
        rows.append([int(v) for v in np.clip(np.round(rng.normal(mu, sd, n)), lo, hi)])
    rows += [[-7] * n, [hi] * n, [lo] * n]                           # identical values -> 0
    rows.append([int(v) for v in rng.choice([lo, hi], n)])           # saturating inputs
    rows.append([lo] + [hi] * (n - 1))                               # one outlier
    rows += [[int(v) for v in rng.integers(lo, hi + 1, n)] for _ in range(3)]
    lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
    lasts[5][5] = True                                               # in_last early: flagged
    lasts[6][-1] = False                                             # in_last missing: flagged
    return rows, lasts


def accuracy_rows(md, n_rows: int, rng):
    """``n_rows`` (label, row) pairs of realistic rows for the accuracy benchmark (``rng``: numpy)."""
    lsb, lo, hi = md.input.lsb, md.input.min_code, md.input.max_code
    for i in range(n_rows):
        v = rng.normal(0, 1) + rng.uniform(0.2, 4.0) * rng.normal(0, 1, md.row_len)
        label = "gaussian"
        if i % 4 == 3:
            v[rng.integers(md.row_len)] = rng.choice([lo, hi]) * lsb
            label = "outlier"
        yield label, np.clip(np.round(v / lsb), lo, hi).astype(np.int64)
