"""Golden model of the integer PWL unit: the one definition of its arithmetic.

The fitter scores candidate tables with :func:`pwl_int`, the testbenches
compare the RTL against :func:`evaluate`, and the generator sizes every
internal signal with :class:`Datapath`. Semantics (DESIGN.md, "Integer PWL semantics")::

    seg  = number of j with q >= p_j
    prod = K[seg] * q                      # f_x + f_k fractional bits
    F    = max(f_x + f_k, f_c)
    acc  = (prod << (F - f_x - f_k)) + (C[seg] << (F - f_c))
    y    = saturate(round_half_up(acc, F - f_y))

``round_half_up(a, s)`` is ``(a + 2**(s-1)) >> s`` (arithmetic shift) for
``s > 0`` and ``a << -s`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, round_half_up, saturate


class Rounding:
    """Widths after the accumulator, for any datapath that has ``acc_bits``
    and ``out_shift``: the rounding add, the shifted result, and whether
    int64 holds it all (the integer PWL and the segment-local polynomial units)."""

    @property
    def rnd_bits(self) -> int:
        s = self.out_shift
        return max(self.acc_bits, s) + 1 if s > 0 else self.acc_bits - s

    @property
    def res_bits(self) -> int:
        s = self.out_shift
        return max(self.rnd_bits - s, 2) if s > 0 else self.rnd_bits

    @property
    def fits_int64(self) -> bool:
        return self.rnd_bits <= 63


@dataclass(frozen=True)
class Datapath(Rounding):
    """Formats of the four operands and every width derived from them.

    Widths are exact bounds, so nothing in the datapath can wrap:

    * ``x_bits_signed`` = x.bits (+1 if x is unsigned, as the multiplier is signed);
    * ``prod_bits`` = k.bits + x_bits_signed: the product of a signed a-bit and
      signed b-bit number lies in [-2^(a+b-2) + 2^(a-1), 2^(a+b-2)], which
      needs a+b bits (the + end is reached by (-2^(a-1)) * (-2^(b-1)));
    * ``acc_bits`` = max(prod_bits + shift_prod, c.bits + shift_c) + 1 for the
      sum of two signed numbers;
    * ``rnd_bits`` = max(acc_bits, out_shift) + 1 when adding the rounding
      constant 2^(out_shift-1), or acc_bits - out_shift for a left shift;
    * ``res_bits`` = width after the shift, before saturation.
    """

    x: Fixed
    k: Fixed
    c: Fixed
    y: Fixed

    @property
    def F(self) -> int:
        return max(self.x.frac + self.k.frac, self.c.frac)

    @property
    def shift_prod(self) -> int:
        return self.F - self.x.frac - self.k.frac

    @property
    def shift_c(self) -> int:
        return self.F - self.c.frac

    @property
    def out_shift(self) -> int:
        """Right shift from accumulator to output (negative: left shift)."""
        return self.F - self.y.frac

    @property
    def x_bits_signed(self) -> int:
        return self.x.bits + (0 if self.x.signed else 1)

    @property
    def prod_bits(self) -> int:
        return self.k.bits + self.x_bits_signed

    @property
    def acc_bits(self) -> int:
        return max(self.prod_bits + self.shift_prod, self.c.bits + self.shift_c) + 1


    @classmethod
    def of_spec(cls, spec) -> "Datapath":
        if spec.is_fp32:
            raise ValueError("an fp32 spec has no integer datapath")
        return cls(spec.input, spec.slopes.fmt, spec.intercepts.fmt, spec.output)


def count_le(q: np.ndarray, bps: np.ndarray) -> np.ndarray:
    """Number of ``bps`` entries <= each ``q`` (1-D ``q``; ``bps`` (N-1,) or
    (P, N-1)), for integers or floats, sorted or not.

    Fast paths, both exact: sorted breakpoints against any ``q`` by binary
    search; any breakpoints against ascending ``q`` (the fitter's domain and
    grid) by marking where each breakpoint starts to count and summing
    along the row. Otherwise every comparison is made."""
    q = np.asarray(q)
    squeeze = bps.ndim == 1
    b2 = bps[None, :] if squeeze else bps
    P, K = b2.shape
    if K == 0:
        out = np.zeros((P, len(q)), dtype=np.int64)
    elif squeeze and np.all(np.diff(bps) >= 0):
        out = np.searchsorted(bps, q, side="right")[None, :]
    elif len(q) > 1 and np.all(np.diff(q) >= 0):
        starts = np.searchsorted(q, b2, side="left")            # first q >= p_j
        marks = np.zeros((P, len(q) + 1), dtype=np.int64)
        np.add.at(marks, (np.repeat(np.arange(P), K), starts.ravel()), 1)
        out = np.cumsum(marks[:, :-1], axis=1)
    else:
        out = (q[None, :, None] >= b2[:, None, :]).sum(axis=-1)
    out = out.astype(np.int64)
    return out[0] if squeeze else out


def segment(q: np.ndarray, bps: np.ndarray) -> np.ndarray:
    """Segment index per code: the comparator bank (``seg`` = number of j
    with q >= p_j). ``bps`` may carry one leading batch dimension (one table
    per row); ``q`` is 1-D."""
    return count_le(np.asarray(q, dtype=np.int64), np.asarray(bps, dtype=np.int64))


def pwl_int(q, bps, K, C, dp: Datapath, seg: np.ndarray | None = None) -> np.ndarray:
    """Outputs of the integer PWL unit for input codes ``q`` (1-D).

    ``bps`` (..., N-1), ``K`` and ``C`` (..., N) may share leading batch
    dimensions, giving outputs of shape (..., len(q)): the fitter scores a
    whole population in one call. Arithmetic is int64 when ``dp`` proves it
    cannot overflow (``Datapath.fits_int64``), Python integers otherwise.
    ``seg``, if given, must be ``segment(q, bps)`` (a caller that needs the
    segments anyway saves computing them twice).
    """
    q = np.asarray(q, dtype=np.int64)
    K = np.asarray(K, dtype=np.int64)
    C = np.asarray(C, dtype=np.int64)
    if seg is None:
        seg = segment(q, bps)
    lead = np.broadcast_shapes(seg.shape[:-1], K.shape[:-1], C.shape[:-1])
    seg = np.broadcast_to(seg, lead + seg.shape[-1:])
    k = np.take_along_axis(np.broadcast_to(K, lead + K.shape[-1:]), seg, axis=-1)
    c = np.take_along_axis(np.broadcast_to(C, lead + C.shape[-1:]), seg, axis=-1)
    xq = np.broadcast_to(q, seg.shape)
    if not dp.fits_int64:
        k, c, xq = k.astype(object), c.astype(object), xq.astype(object)
    acc = ((k * xq) << dp.shift_prod) + (c << dp.shift_c)
    return np.asarray(saturate(round_half_up(acc, dp.out_shift), dp.y), dtype=np.int64)


def evaluate(spec, q) -> np.ndarray:
    """Golden output codes of an integer spec's unit for input codes ``q``."""
    bps, K, C = spec.arrays()
    return pwl_int(q, bps, K, C, Datapath.of_spec(spec))
