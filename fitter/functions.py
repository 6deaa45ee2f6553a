"""Registry of the element-wise operators the fitter knows.

Each entry holds the float reference, the default fitting range (the
paper's code where it gives one), the breakpoint search range and default
INT8 formats. Formats are chosen so that the range is representable and the
output keeps as many fractional bits as its largest value allows.

sigmoid and tanh (not in the paper's code): sigmoid on [-8, 8], since
1 - sigmoid(8) = 3.4e-4 is below half an output LSB (2^-7 / 2 = 3.9e-3) so
saturating outside the range costs nothing; tanh on [-4, 4], since
1 - tanh(4) = 6.7e-4 is below half an output LSB (2^-6 / 2 = 7.8e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _hswish(x):
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _silu(x):
    return x * _sigmoid(x)


@dataclass(frozen=True)
class Function:
    name: str
    ref: object                 # float64 ndarray -> float64 ndarray
    range: tuple                # default fitting range [lo, hi]
    input: Fixed
    output: Fixed
    slopes: Fixed
    intercepts: Fixed
    round_mut_prob: float       # the paper's rounding mutation (Table 1)
    round_mut_grids: tuple = (0, 1, 2, 3, 4, 5)   # j in 2^-j snapping grids
    doc: str = ""

    def __call__(self, x):
        return self.ref(np.asarray(x, dtype=np.float64))


S8_5 = Fixed(8, True, 5)
COEF = Fixed(8, True, 6)     # the paper's code: slopes and intercepts s8 with 6 frac bits

FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("gelu", _gelu, (-4.0, 4.0), S8_5, S8_5, COEF, COEF, 0.05,
             doc="x * Phi(x), exact erf form"),
    Function("hswish", _hswish, (-4.0, 4.0), S8_5, S8_5, COEF, COEF, 0.05,
             doc="x * relu6(x + 3) / 6"),
    Function("silu", _silu, (-4.0, 4.0), S8_5, S8_5, COEF, COEF, 0.05,
             doc="x * sigmoid(x)"),
    Function("sigmoid", _sigmoid, (-8.0, 8.0), Fixed(8, True, 4), Fixed(8, False, 7),
             COEF, COEF, 0.05, doc="1 / (1 + exp(-x))"),
    Function("tanh", np.tanh, (-4.0, 4.0), S8_5, Fixed(8, True, 6), COEF, COEF, 0.05,
             doc="hyperbolic tangent"),
    Function("exp", np.exp, (-8.0, 0.0), Fixed(8, True, 4), Fixed(8, False, 7),
             COEF, COEF, 0.05, doc="e^x for x <= 0 (softmax after max subtraction)"),
    # 1/x and 1/sqrt(x) are steep at the low end (slope -4): slopes need
    # s8.5 and intercepts s8.4 to hold the first segment's line.
    Function("reciprocal", lambda x: 1.0 / x, (0.5, 4.0), Fixed(8, False, 6), Fixed(8, False, 7),
             Fixed(8, True, 5), Fixed(8, True, 4), 0.0, doc="1 / x"),
    Function("rsqrt", lambda x: 1.0 / np.sqrt(x), (0.25, 4.0), Fixed(8, False, 6), Fixed(8, False, 7),
             Fixed(8, True, 5), Fixed(8, True, 4), 0.0, doc="1 / sqrt(x)"),
]}


#: functions that only a row-wise unit's tables use (hw/softmax/online.py): fitted like the ops
#: above, never offered as element-wise ops (make gen OP=...)
TABLE_FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("exp2", np.exp2, (0.0, 1.0), Fixed(10, False, 10), Fixed(16, False, 15),
             Fixed(16, True, 14), Fixed(16, True, 14), 0.05, doc="2^x on [0, 1) (the two-pass softmax's table)"),
    Function("log2", np.log2, (1.0, 2.0), Fixed(12, False, 11), Fixed(12, False, 12),
             Fixed(12, True, 10), Fixed(12, True, 10), 0.05,
             doc="log2(x) on [1, 2) (the two-pass softmax's log-denominator)"),
]}


class UnknownOp(KeyError):
    def __init__(self, op: str, known=None):
        self.op, self.known = op, list(known or FUNCTIONS)
        super().__init__(op)

    def __str__(self) -> str:
        return f"unknown op '{self.op}'; known ops: {', '.join(self.known)}"


def known(op: str) -> bool:
    """Whether ``op`` can be fitted: an element-wise op or a table function."""
    return op in FUNCTIONS or op in TABLE_FUNCTIONS


def get(op: str) -> Function:
    try:
        return FUNCTIONS[op] if op in FUNCTIONS else TABLE_FUNCTIONS[op]
    except KeyError:
        raise UnknownOp(op) from None
