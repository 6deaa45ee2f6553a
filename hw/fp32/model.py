"""Golden models of the binary32 comparator, multiplier and adder.

Everything works on ``uint32`` bit patterns, vectorized, because that is
what the hardware ports carry and what the testbenches compare: comparing
bit patterns (not float values) is what makes a check bit-exact, so -0 vs
+0 and NaN encodings count.

IEEE mode (``ftz=False``): numpy float32 arithmetic, which is IEEE-754
round-to-nearest-even with gradual underflow (subnormals), infinities and
signed zeros. The one departure from plain numpy: every NaN result is
replaced by the canonical quiet NaN ``0x7FC00000`` (numpy would propagate
an input payload), so the hardware needs no payload logic.

FTZ mode (``ftz=True``), as in many accelerator FP units:

* inputs: a subnormal operand reads as zero of the same sign
  (denormals-are-zero);
* results: the IEEE result is computed from the flushed operands, rounded
  as above, and if that rounded result is subnormal it becomes zero of the
  same sign. (A result that rounds *up* to the smallest normal stays
  normal: the flush looks at the rounded result.)

The comparator ``ge(a, b)`` is IEEE ``a >= b``: false if either is NaN,
-0 == +0; with ``ftz`` subnormal operands compare as zeros.

``tests/test_fp32_model.py`` checks these models against Berkeley SoftFloat
(``softfloatpy``), an independent IEEE implementation.
"""

from __future__ import annotations

import numpy as np

CANONICAL_NAN = 0x7FC00000
SIGN = 0x80000000
EXP = 0x7F800000
FRAC = 0x007FFFFF


def bits(x) -> np.ndarray:
    """Bit patterns of ``x`` (floats or ints) as a uint32 array."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return np.asarray(x, dtype=np.float32).view(np.uint32)
    return np.asarray(x, dtype=np.int64).astype(np.uint32)


def floats(b) -> np.ndarray:
    """The float32 values of uint32 bit patterns."""
    return np.asarray(b, dtype=np.uint32).view(np.float32)


def is_nan(b) -> np.ndarray:
    b = np.asarray(b, dtype=np.uint32)
    return ((b & EXP) == EXP) & ((b & FRAC) != 0)


def is_subnormal(b) -> np.ndarray:
    b = np.asarray(b, dtype=np.uint32)
    return ((b & EXP) == 0) & ((b & FRAC) != 0)


def flush(b) -> np.ndarray:
    """Subnormals become zero of the same sign; everything else is kept."""
    b = np.asarray(b, dtype=np.uint32)
    return np.where(is_subnormal(b), b & np.uint32(SIGN), b).astype(np.uint32)


def canonical(b) -> np.ndarray:
    """Every NaN becomes 0x7FC00000."""
    b = np.asarray(b, dtype=np.uint32)
    return np.where(is_nan(b), np.uint32(CANONICAL_NAN), b).astype(np.uint32)


def _binop(f, a, b, ftz: bool) -> np.ndarray:
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    if ftz:
        a, b = flush(a), flush(b)
    with np.errstate(all="ignore"):
        r = np.asarray(f(floats(a), floats(b)), dtype=np.float32)
    r = canonical(r.view(np.uint32))
    return flush(r) if ftz else r


def mul(a, b, ftz: bool = False) -> np.ndarray:
    """Bit patterns of fl(a * b), binary32, round to nearest even."""
    return _binop(np.multiply, a, b, ftz)


def add(a, b, ftz: bool = False) -> np.ndarray:
    """Bit patterns of fl(a + b), binary32, round to nearest even."""
    return _binop(np.add, a, b, ftz)


def ge(a, b, ftz: bool = False) -> np.ndarray:
    """IEEE ``a >= b`` as a bool array (NaN: false; -0 == +0)."""
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    if ftz:
        a, b = flush(a), flush(b)
    with np.errstate(all="ignore"):
        return np.asarray(floats(a) >= floats(b))
