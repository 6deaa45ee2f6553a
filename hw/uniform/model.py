"""Golden model of the uniform-segment PWL unit (``impl: "uniform"``).

``entries`` = N = 2^k equal segments; the segment is the top k bits of the
input code in offset binary, then exactly the integer PWL arithmetic of
:mod:`hw.pwl_int.model` (one definition, :func:`hw.pwl_int.model.pwl_int`)::

    seg = (q - min_code) >> (bits - k)
    y   = saturate(round_half_up(K[seg] * q  aligned  + C[seg]))

Since the spec's breakpoints are the segment boundaries ``min_code + j *
2^(bits-k)`` (validated by :mod:`hw.spec`), ``seg`` equals the comparator
bank's count and a uniform spec also evaluates identically through the pwl
model; this model computes ``seg`` the way the hardware does. numpy only.
"""

from __future__ import annotations

import numpy as np

from hw.fixed import Fixed
from hw.pwl_int.model import Datapath, pwl_int


def seg_shift(x: Fixed, entries: int) -> int:
    """bits - k: the right shift from offset code to segment, entries = 2^k."""
    if entries < 1 or entries & (entries - 1) or entries > 1 << x.bits:
        raise ValueError(f"uniform entries must be a power of two up to 2^{x.bits}, not {entries}")
    return x.bits - (entries.bit_length() - 1)


def segment(q, x: Fixed, entries: int) -> np.ndarray:
    """Segment of input codes ``q``: top k bits of ``q - min_code``."""
    return (np.asarray(q, dtype=np.int64) - x.min_code) >> seg_shift(x, entries)


def pwl_uniform(q, K, C, dp: Datapath) -> np.ndarray:
    """Outputs for codes ``q`` (1-D) of uniform tables ``K``, ``C`` (..., N);
    leading batch dimensions as in :func:`hw.pwl_int.model.pwl_int`."""
    q = np.asarray(q, dtype=np.int64)
    n = np.shape(K)[-1]
    return pwl_int(q, None, K, C, dp, seg=segment(q, dp.x, n))


def evaluate(spec, q) -> np.ndarray:
    """Golden output codes of a uniform spec's unit for input codes ``q``."""
    _, K, C = spec.arrays()
    return pwl_uniform(q, K, C, Datapath.of_spec(spec))
