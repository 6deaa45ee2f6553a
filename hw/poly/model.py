"""Golden model of the segment-local polynomial unit (``impl: "poly"``): the
one definition of its arithmetic (DESIGN.md, "Segment-local polynomial
semantics"). The fitter (:mod:`fitter.poly`) scores and certifies with it,
the benches compare the RTL against :func:`evaluate`, and the generator
(:mod:`hw.poly.unit`) sizes its signals from :class:`PolyDatapath`.

Degree 1, ``entries`` = N = 2^k equal segments of an input of w bits::

    m    = w - k                           # bits of the local offset
    u    = q - min_code                    # offset binary, 0 .. 2^w - 1
    seg  = u >> m                          # the top k bits
    t    = u & (2^m - 1)                   # local offset, unsigned, LSB 2^-f_x
    prod = c1[seg] * t                     # exact, f_1 + f_x fractional bits
    F    = max(f_0, f_1 + f_x)
    acc  = (c0[seg] << (F - f_0)) + (prod << (F - f_1 - f_x))
    y    = clamp(rhu(acc, F - f_y))        # round half up, saturate

``c0`` and ``c1`` are signed columns with their own formats (bits, frac).
In real numbers ``y ~ c0*2^-f_0 + c1*2^-f_1 * (x - x_seg)``, ``x_seg`` the
segment's first input.

Degree 2 (a column ``c2``, f_2 fractional bits), Horner's form with one
truncation: the slope at ``t`` in c1's format, then as degree 1::

    p2   = c2[seg] * t                     # exact, f_2 + f_x fractional bits
    r    = f_2 + f_x - f_1
    q2   = p2 >> r  (r > 0: floor)  |  p2 << -r  (r <= 0: exact)
    h    = c1[seg] + q2                    # f_1 fractional bits
    prod = h * t                           # then acc and y as degree 1

Symmetry folding (``spec.fold``, DESIGN.md): the polynomial part is the
unit of an unsigned (w-1)-bit input, the magnitude ``a`` of a signed input
(``-min_code`` saturated), and ``y`` for a negative input is ``clamp(K - Y)``
(``("odd", K)``) or ``clamp(Y - (a << (f_y - f_x)))`` (``("x", 0)``).

numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, round_half_up, saturate
from hw.pwl_int.model import Rounding

#: degrees the unit implements (the spec field ``degree``)
DEGREES = (1, 2)


@dataclass(frozen=True)
class PolyDatapath(Rounding):
    """Formats of input, coefficients and output, the segment bits, and every
    width derived from them (exact bounds, so nothing wraps):

    * ``prod_bits`` = c1.bits + m: a signed b-bit ``c1`` times an unsigned
      m-bit ``t`` lies in [-2^(b-1) (2^m - 1), (2^(b-1) - 1)(2^m - 1)];
    * ``acc_bits`` = max(prod_bits + shift1, c0.bits + shift0) + 1;
    * ``rnd_bits``, ``res_bits`` as :class:`hw.pwl_int.model.Datapath`.

    Degree 2 (``c2`` given): ``prod2_bits`` = c2.bits + m, ``q2_bits`` =
    max(prod2_bits - r, 2), ``h_bits`` = max(c1.bits, q2_bits) + 1, and
    ``prod_bits`` = h_bits + m (the product is ``h * t``).
    """

    x: Fixed
    c0: Fixed
    c1: Fixed
    y: Fixed
    k: int              # log2(entries)
    c2: Fixed | None = None     # degree 2 only

    def __post_init__(self):
        if not 0 <= self.k < self.x.bits:
            raise ValueError(f"poly: 2^k segments with 0 <= k < {self.x.bits} input bits, not k = {self.k}")

    @property
    def m(self) -> int:
        """Bits of the local offset t."""
        return self.x.bits - self.k

    @property
    def F(self) -> int:
        return max(self.c0.frac, self.c1.frac + self.x.frac)

    @property
    def shift0(self) -> int:
        return self.F - self.c0.frac

    @property
    def shift1(self) -> int:
        return self.F - self.c1.frac - self.x.frac

    @property
    def out_shift(self) -> int:
        """Right shift from accumulator to output (negative: left shift)."""
        return self.F - self.y.frac

    @property
    def degree(self) -> int:
        return 1 if self.c2 is None else 2

    @property
    def r(self) -> int:
        """Degree 2: bits dropped from ``c2 * t`` to align it with c1 (<= 0: a left shift)."""
        return self.c2.frac + self.x.frac - self.c1.frac

    @property
    def prod2_bits(self) -> int:
        return self.c2.bits + self.m

    @property
    def q2_bits(self) -> int:
        return max(self.prod2_bits - self.r, 2)

    @property
    def h_bits(self) -> int:
        """Degree 2: bits of the slope at t, ``c1 + q2``."""
        return max(self.c1.bits, self.q2_bits) + 1

    @property
    def prod_bits(self) -> int:
        return (self.c1.bits if self.c2 is None else self.h_bits) + self.m

    @property
    def acc_bits(self) -> int:
        return max(self.prod_bits + self.shift1, self.c0.bits + self.shift0) + 1


    @classmethod
    def of_spec(cls, spec) -> "PolyDatapath":
        if spec.impl != "poly" or spec.is_fp32:
            raise ValueError("PolyDatapath needs an integer spec with impl 'poly'")
        c0, c1, *c2 = (c.fmt for c in spec.coefficients)
        x = spec.input if spec.fold is None else half(spec.input)
        return cls(x, c0, c1, spec.output, spec.entries.bit_length() - 1, *c2)


def half(x: Fixed) -> Fixed:
    """The polynomial part's input format of a folded unit: the magnitude, unsigned, w - 1 bits."""
    return Fixed(x.bits - 1, False, x.frac)


def magnitude(q, x: Fixed) -> np.ndarray:
    """``a`` of a folded unit: ``q`` for q >= 0, ``-q`` saturated to ``max_code`` below."""
    q = np.asarray(q, dtype=np.int64)
    return np.where(q < 0, np.minimum(-q, x.max_code), q)


def unfold(q, Y, a, fold, x: Fixed, y: Fixed) -> np.ndarray:
    """The folded unit's output: ``Y`` (the polynomial part's, at ``a``) for q >= 0,
    the fold's ``clamp(K - Y)`` or ``clamp(Y - (a << (f_y - f_x)))`` below."""
    kind, K = fold
    neg = (K - Y) if kind == "odd" else (Y - (np.asarray(a, np.int64) << (y.frac - x.frac)))
    return np.where(np.asarray(q) < 0, np.clip(neg, y.min_code, y.max_code), Y).astype(np.int64)


def split(q, x: Fixed, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(seg, t) of input codes ``q``: the top k and the low w - k bits of ``q - min_code``."""
    u = np.asarray(q, dtype=np.int64) - x.min_code
    m = x.bits - k
    return u >> m, u & ((1 << m) - 1)


def slope(seg, t, C1, C2, dp: PolyDatapath) -> np.ndarray:
    """Degree 2: ``h = c1 + q2``, the slope at ``t`` (``C2`` None: ``c1``)."""
    c1 = np.asarray(C1, dtype=np.int64)[seg]
    if C2 is None:
        return c1
    p2 = np.asarray(C2, dtype=np.int64)[seg] * np.asarray(t, dtype=np.int64)
    return c1 + (p2 >> dp.r if dp.r > 0 else p2 << -dp.r)


def acc(seg, t, C0, C1, dp: PolyDatapath, C2=None) -> np.ndarray:
    """The accumulator (before rounding) for segments ``seg`` and offsets ``t``."""
    c0 = np.asarray(C0, dtype=np.int64)[seg]
    c1 = np.asarray(C1, dtype=np.int64)[seg] if C2 is None else slope(seg, t, C1, C2, dp)
    t = np.asarray(t, dtype=np.int64)
    if not dp.fits_int64:
        c0, c1, t = c0.astype(object), c1.astype(object), t.astype(object)
    return (c0 << dp.shift0) + ((c1 * t) << dp.shift1)


def poly(q, C0, C1, dp: PolyDatapath, C2=None) -> np.ndarray:
    """Output codes for input codes ``q`` of the table ``C0``, ``C1`` (and ``C2``, degree 2; N each)."""
    seg, t = split(q, dp.x, dp.k)
    a = acc(seg, t, C0, C1, dp, C2)
    return np.asarray(saturate(round_half_up(a, dp.out_shift), dp.y), dtype=np.int64)


def evaluate(spec, q) -> np.ndarray:
    """Golden output codes of a poly spec's unit for input codes ``q``."""
    q = np.asarray(q, dtype=np.int64)
    if q.size and (q.min() < spec.input.min_code or q.max() > spec.input.max_code):
        raise ValueError(f"input codes outside {spec.input.label()}")
    C0, C1, *C2 = (c.values for c in spec.coefficients)
    if spec.fold is None:
        return poly(q, C0, C1, PolyDatapath.of_spec(spec), *C2)
    a = magnitude(q, spec.input)
    Y = poly(a, C0, C1, PolyDatapath.of_spec(spec), *C2)
    return unfold(q, Y, a, spec.fold, spec.input, spec.output)
