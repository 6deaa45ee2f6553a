"""Golden model of the FP32 PWL unit (DESIGN.md, "FP32 baseline semantics").

::

    seg = number of j with x >= P_j       # IEEE compare: NaN false, -0 == +0
    y   = fl(fl(K[seg] * x) + C[seg])     # binary32 multiply, then add, each RNE

All arithmetic is delegated to :mod:`hw.fp32.model` (the one definition of
binary32 compare, multiply and add), so the PWL model cannot disagree with
the component models. NaN results are the canonical 0x7FC00000; a NaN input
compares false with every breakpoint (segment 0) and then gives NaN out.

With ``ftz=True`` every operation is the FTZ one: x (and any subnormal
breakpoint) compares as its flushed value, the multiply flushes its
operands and result, and so does the add.
"""

from __future__ import annotations

import numpy as np

from hw.fp32 import model as fp


def table_bits(spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(breakpoints, slopes, intercepts) of an fp32 spec as uint32 bit patterns."""
    if not spec.is_fp32:
        raise ValueError("the FP32 PWL model needs an fp32 spec")
    return tuple(fp.bits(col) for col in spec.arrays())


def segment(x_bits, bp_bits, ftz: bool = False) -> np.ndarray:
    """Segment index per input: how many breakpoints ``x >= P_j`` (IEEE)."""
    x = np.asarray(x_bits, dtype=np.uint32)
    seg = np.zeros(x.shape, dtype=np.int64)
    for p in np.asarray(bp_bits, dtype=np.uint32).reshape(-1):
        seg += fp.ge(x, p, ftz)
    return seg


def pwl_fp32(x_bits, bp_bits, k_bits, c_bits, ftz: bool = False) -> np.ndarray:
    """Outputs (uint32 bit patterns) for a table given as bit patterns."""
    x = np.asarray(x_bits, dtype=np.uint32)
    seg = segment(x, bp_bits, ftz)
    k = np.asarray(k_bits, dtype=np.uint32)[seg]
    c = np.asarray(c_bits, dtype=np.uint32)[seg]
    return fp.add(fp.mul(k, x, ftz), c, ftz)


def evaluate(spec, x_bits, ftz: bool = False) -> np.ndarray:
    """Golden outputs of ``spec``'s FP32 unit for inputs ``x_bits`` (uint32)."""
    return pwl_fp32(x_bits, *table_bits(spec), ftz=ftz)
