"""Many rows at once through the softmax golden model, bit for bit.

:func:`rows` computes exactly what :meth:`hw.softmax.model.Softmax.row`
computes, for every row of a 2-D array of input codes at once (rows of one
length; ``tests/test_minilm.py`` checks equality with ``.row()`` on random
rows). The steps are the model's, each vectorized over rows:

* the exp table is applied with the PWL golden model ``evaluate`` (it is
  elementwise, so one call covers every row);
* the row sum's leading-one normalization uses ``bit_length`` computed
  exactly from ``numpy.frexp`` (sums are far below 2**53, asserted);
* the per-row output shift ``f_r + L - f_out`` is applied with the same
  half-up rule as ``hw.fixed.round_half_up``, row by row.

Arithmetic is int64; the widths that bound every product are checked
before use, so nothing can wrap silently.
"""

from __future__ import annotations

import numpy as np

from hw.fixed import saturate
from hw.pwl_int.model import evaluate


def bit_length(v: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of each non-negative int64 below 2**53."""
    v = np.asarray(v, dtype=np.int64)
    if v.size and (v.min() < 0 or v.max() >= 1 << 53):
        raise ValueError("bit_length: values must lie in [0, 2**53)")
    return np.frexp(v.astype(np.float64))[1].astype(np.int64)


def normalize(v: np.ndarray, frac: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hw.norm.normalize` on every element of ``v``."""
    v = np.asarray(v, dtype=np.int64)
    lead = np.maximum(bit_length(v) - 1, 0)
    e = lead // step
    s = step * e - frac
    right = np.right_shift(v, np.maximum(s, 0))
    left = np.left_shift(v, np.maximum(-s, 0))
    return np.where(s >= 0, right, left), e


def round_half_up(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """:func:`hw.fixed.round_half_up` with a shift per element (broadcast)."""
    a = np.asarray(a, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    pos = np.maximum(s, 1)
    right = np.right_shift(a + np.left_shift(np.int64(1), pos - 1), pos)
    left = np.left_shift(a, np.maximum(-s, 0))
    return np.where(s > 0, right, left)


def check_bits(prod_bits: int, shift: np.ndarray, what: str) -> None:
    """Raise unless ``round_half_up(a, shift)`` of any ``|a| < 2**prod_bits``
    stays below 2**62 in magnitude: the sum with the rounding constant
    needs max(prod_bits, shift) + 1 bits, a left shift prod_bits - shift."""
    need = max(prod_bits, int(shift.max())) + 1 - min(int(shift.min()), 0)
    if need > 62:
        raise OverflowError(f"{what} batch needs {need}-bit intermediates; use the row model")


def rows(sm, x) -> tuple[np.ndarray, bool]:
    """``Softmax.row`` of every row of ``x`` (R x n codes): output codes
    (R x min(n, row_max)) and the overflow flag (the same for every row)."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError("rows: x must be a 2-D array of non-empty rows")
    overflow = x.shape[1] > sm.row_max
    x = x[:, : sm.row_max]
    d = np.maximum(x - x.max(axis=1, keepdims=True), sm.exp.input.min_code)
    e = evaluate(sm.exp, d.ravel()).reshape(d.shape)
    total = e.sum(axis=1)
    m, lead = normalize(total, sm.recip.input.frac)
    r = evaluate(sm.recip, m)
    shift = sm.recip.output.frac + lead - sm.out.frac
    check_bits(sm.exp.output.bits + sm.recip.output.bits, shift, "softmax")
    p = round_half_up(e * r[:, None], shift[:, None])
    return np.asarray(saturate(p, sm.out), dtype=np.int64), overflow
