"""Leading-one normalization shared by the composite units' golden models."""

from __future__ import annotations


def normalize(v: int, frac: int, step: int = 1) -> tuple[int, int]:
    """Split a non-negative integer ``v`` into ``(m, e)`` with
    ``v ~= m * 2**(step*e - frac)`` and ``m`` in ``[2**frac, 2**(frac+step))``
    (a mantissa in [1, 2) for ``step=1``, in [1, 4) with an even exponent for
    ``step=2``), truncating the bits shifted out. ``v = 0`` gives ``(0, 0)``.
    """
    lead = max(v.bit_length() - 1, 0)
    e = lead // step
    s = step * e - frac
    return (v >> s if s >= 0 else v << -s), e
