"""Golden model of the table unit (``impl: "table"``): one output code per input code.

::

    a = q - min_code          # index into the spec's values (and the cfg address)
    y = values[a]

The values are fixed when the table is made: :func:`correctly_rounded` is
the rule the fitter uses (``fitter.impls.fit_table``), the float function
rounded half up at the output LSB and saturated to the output format, so a
table is within 0.5 output LSB of the function wherever the function lies
inside the output range. numpy only.
"""

from __future__ import annotations

import numpy as np

from hw.fixed import Fixed


def index(spec, q) -> np.ndarray:
    """Table address of input codes ``q``: ``q - min_code``."""
    return np.asarray(q, dtype=np.int64) - spec.input.min_code


def evaluate(spec, q) -> np.ndarray:
    """Golden output codes of a table spec's unit for input codes ``q``."""
    a = index(spec, q)
    if a.size and (a.min() < 0 or a.max() >= len(spec.values)):
        raise ValueError(f"input codes outside {spec.input.label()}")
    return np.asarray(spec.values, dtype=np.int64)[a]


def correctly_rounded(y, out: Fixed) -> np.ndarray:
    """Output codes of the real values ``y``: ``floor(y * 2^frac + 0.5)``
    (round half up, exact in float64 for outputs up to 52 bits), saturated to
    ``out``; +-inf saturate to the format's ends. NaN is refused."""
    y = np.asarray(y, dtype=np.float64)
    if np.isnan(y).any():
        raise ValueError("the function is NaN at some input code; a table needs a value for every code")
    with np.errstate(invalid="ignore", over="ignore"):
        return out.quantize(y)
