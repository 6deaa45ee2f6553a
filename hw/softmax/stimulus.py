"""The rows the softmax unit is exercised with: the cocotb bench's
(:mod:`sim.tb_rowwise`), the handoff vectors' (:mod:`hw.handoff.vectors`) and
the accuracy benchmark's (:mod:`eval.bench_rowwise`), one place per op
(looked up by :func:`hw.rowwise.stimulus`). Rows of 1..``row_max`` scores,
the corner cases of the max search and of a row longer than ``row_max``."""

from __future__ import annotations

import random

import numpy as np


def timing_lengths(md) -> list[int]:
    """Row lengths of the bench's full-rate timing phase."""
    return sorted({min(md.row_max, 5), min(md.row_max, 37)})


def bench_rows(md, rng: random.Random) -> list[list[int]]:
    """The cocotb bench's rows (phase 2, and phase 3 with loaded gamma/beta): every kind, ``rng`` its seed's."""
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_max
    rows = []
    for length in (1, 2, 3, n - 1, n, rng.randint(min(4, n), n), rng.randint(min(4, n), n)):
        scale = rng.choice([4, 16, 40])
        rows.append([max(lo, min(hi, round(rng.gauss(0, scale)))) for _ in range(length)])
    rows += [[37] * 17, [lo] * n, [hi] * 5]                          # all equal
    base = [rng.randint(-40, 20) for _ in range(20)]
    for pos in (0, 19, 10):                                          # max first, last, middle
        r = list(base)
        r[pos] = 60
        rows.append(r)
    rows.append([rng.choice([lo, hi]) for _ in range(33)])           # saturating inputs
    rows.append([rng.randint(lo, hi) for _ in range(n + 5)])         # too long: flagged
    rows.append([rng.randint(lo, hi) for _ in range(9)])             # and the next row is fine
    rows += [[max(lo, min(hi, round(rng.gauss(0, 16)))) for _ in range(rng.randint(1, 12))]
             for _ in range(6)]                                      # short rows: buffers swap fast
    return rows


def bench_lasts(md, rows, n_passes: int):
    """The bench's ``in_last`` per row and, for a multi-pass unit, the last pass's (None: as pass 1's)."""
    lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
    seconds = None
    if n_passes > 1:                                                 # the last pass's in_last misplaced
        seconds = [None] * len(rows)
        seconds[3] = [j == 1 for j in range(len(rows[3]))]           # early: flagged from there on
        seconds[4] = [False] * len(rows[4])                          # missing: the last output flagged
    return lasts, seconds


def handoff_rows(md, rng) -> tuple[list[list[int]], list[list[bool]]]:
    """The handoff vectors' rows and their ``in_last`` flags (``rng``: numpy, the vectors' fixed seed)."""
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_max

    def gauss(length, scale):
        return [int(v) for v in np.clip(np.round(rng.normal(0, scale, length)), lo, hi)]

    rows = [gauss(1, 4), gauss(2, 16), gauss(3, 40), gauss(n, 16), gauss(n - 1, 4),
            gauss(int(rng.integers(4, n)), 40)]
    rows += [[37] * 17, [lo] * n, [hi] * 5]                          # all equal
    base = [int(v) for v in rng.integers(-40, 21, 20)]
    for pos in (0, 19, 10):                                          # max first, last, middle
        r = list(base)
        r[pos] = 60
        rows.append(r)
    rows.append([int(v) for v in rng.choice([lo, hi], 33)])          # saturating inputs
    rows.append([int(v) for v in rng.integers(lo, hi + 1, n + 5)])   # too long: flagged
    rows.append([int(v) for v in rng.integers(lo, hi + 1, 9)])       # and the next row is fine
    rows += [gauss(int(rng.integers(4, 40)), 16) for _ in range(4)]  # (these under back-pressure)
    lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
    return rows, lasts


def accuracy_rows(md, n_rows: int, rng):
    """``n_rows`` (label, row) pairs of realistic rows for the accuracy benchmark (``rng``: numpy)."""
    lsb, lo, hi = md.input.lsb, md.input.min_code, md.input.max_code
    for i in range(n_rows):
        n = int(rng.integers(1, md.row_max + 1))
        kind = i % 5
        if kind < 4:
            v = rng.normal(0.0, [0.5, 1.0, 2.0, 4.0][kind], n)
            label = f"sigma {[0.5, 1.0, 2.0, 4.0][kind]:g}"
        else:
            v = rng.normal(0.0, 1.0, n)
            v[rng.integers(n)] += rng.uniform(2, 6)
            label = "peaked"
        yield label, np.clip(np.round(v / lsb), lo, hi).astype(np.int64)
