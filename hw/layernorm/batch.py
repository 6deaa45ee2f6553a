"""Many rows at once through the LayerNorm golden model, bit for bit.

:func:`rows` computes exactly what :meth:`hw.layernorm.model.LayerNorm.row`
computes, for every row of an (R x row_len) array of input codes
(``tests/test_minilm.py`` checks equality with ``.row()`` on random rows):
exact integer sums ``Sx``, ``Sxx``, ``W = n*Sxx - Sx^2 + E``, the even-
exponent leading-one normalization of ``W`` (``bit_length`` exact via
``numpy.frexp``, W < 2**53 asserted), the rsqrt table through the PWL
golden model, and the per-row half-up shift. int64 throughout, with the
bound on every intermediate checked first (``LayerNorm.w_bits``).

With gamma/beta it uses the unit's form of the model's single rounding,
``round_half_up(D*r*g, s) + b * 2**(f_y - f_b)`` (the same integer, see
``hw/layernorm/model.py``).
"""

from __future__ import annotations

import numpy as np

from hw.fixed import saturate
from hw.pwl_int.model import evaluate
from hw.softmax.batch import check_bits, normalize, round_half_up


def rows(ln, x) -> np.ndarray:
    """``LayerNorm.row`` of every row of ``x`` (R x row_len codes)."""
    x = np.asarray(x, dtype=np.int64)
    n = ln.row_len
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"rows of {x.shape[-1]} values; this unit's row length is {n}")
    if ln.w_bits > 52:
        raise OverflowError(f"layernorm batch: W needs {ln.w_bits} bits; use LayerNorm.row")
    sx = x.sum(axis=1)
    sxx = (x * x).sum(axis=1)
    w = n * sxx - sx * sx + ln.eps_code
    m, k = normalize(w, ln.rsqrt.input.frac, step=2)
    r = evaluate(ln.rsqrt, m)
    d = n * x - sx[:, None]
    shift = ln.rsqrt.output.frac + k - ln.out.frac
    big = max(-ln.input.min_code, ln.input.max_code)
    if not ln.affine:
        check_bits((2 * n * big).bit_length() + ln.rsqrt.output.bits, shift, "layernorm")   # |D| <= 2n*big
        y = round_half_up(d * r[:, None], shift[:, None])
        return np.asarray(saturate(y, ln.out), dtype=np.int64)
    shift = shift + ln.gamma_fmt.frac
    check_bits((2 * n * big).bit_length() + ln.rsqrt.output.bits + ln.gamma_fmt.bits, shift, "layernorm")
    g = np.asarray(ln.gamma, dtype=np.int64)
    b = np.asarray(ln.beta, dtype=np.int64) << (ln.out.frac - ln.beta_fmt.frac)
    y = round_half_up(d * r[:, None] * g[None, :], shift[:, None]) + b[None, :]
    return np.asarray(saturate(y, ln.out), dtype=np.int64)
