"""Golden model of the two-pass softmax unit (``ROW_STORE=none`` and
``sram``; its generator: ``twopass.py``), bit-exact.

Softmax in base 2, so that the sum can follow a growing maximum with a
shift (Softermax, DAC 2021, does the same): ``e^x = 2^(x*log2 e)``. Per
score code ``X`` (s8.F):

1. ``t = X * LOG2E`` with ``LOG2E = round(log2(e) * 2^C)`` (``C`` =
   :data:`LOG2E_FRAC`), an exact integer with ``F + C`` fractional bits;
   ``a = t >> (F + C)`` (floor: the power of two) and ``f`` = the top ``q``
   of its fractional bits (truncated; ``q`` is the exp2 table's input
   fraction), so ``2^(X*log2e) ~= 2^a * 2^(f / 2^q)``;
2. ``T = EXP2(f)``, the exp2 PWL table on [0, 1) (golden model of
   ``hw/pwl_int``), ``2^f`` in [1, 2) with ``f_T`` fractional bits.

Pass 1 (the statistics), in stream order, for the first ``row_max``
elements: the running maximum of the powers ``A_i = max(A_(i-1), a_i)``
(``A_0 = a_0``) and the sum relative to it::

    u_i = round_half_up(T_i, A_i - a_i)            (T_i / 2^(A_i - a_i), rounded)
    S_0 = u_0,  S_i = (S_(i-1) >> (A_i - A_(i-1))) + u_i   (rescale: truncation)

so ``S = S_n ~= sum_i 2^(t_i - A) * 2^f_T`` with ``A = A_n``, exact but for
one rounding per term and one truncation each time the maximum grows.
``S`` has ``sum_bits`` bits (no overflow: every ``u_i < 2^(bits of T)``).

Calc: ``S = m * 2^(L - f_m)`` with ``m`` in [1, 2) (leading one, truncation),
``l = LOG2(m)`` (log2 PWL table on [1, 2), ``g`` fractional bits), and the
row's log-denominator with ``q`` fractional bits::

    c = ((A + L - f_T) << q) + round_half_up(l, g - q)  (log2 of S * 2^(A - f_T))

Pass 2 (the outputs), in the log domain, with the same exp2 table and no
multiplier: ``e_i = (t_i >> (F + C - q)) - c`` (``t_i`` with ``q``
fractional bits, less ``c``), ``b_i = e_i >> q``, ``g_i = e_i mod 2^q``::

    p_i = sat(round_half_up(EXP2(g_i), f_T - f_out - min(b_i, 0)))

(``b_i >= 0``, an output of at least 1, saturates: it happens when pass 2
carries a code above pass 1's maximum, or by rounding at a probability
near 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, saturate
from hw.pwl_int.model import evaluate
from hw.softmax.batch import normalize, round_half_up
from hw.softmax.common import DEFAULT_OUT, SoftmaxRow

#: fractional bits of the log2(e) constant: 2^-12 keeps its relative error at 5e-5, so a score 8
#: units below the maximum is off by 4e-4 of itself (a fraction of an output LSB)
LOG2E_FRAC = 12


def log2e(frac: int = LOG2E_FRAC) -> int:
    """``round(log2(e) * 2^frac)``, the constant of step 1."""
    return round(math.log2(math.e) * (1 << frac))


@dataclass(frozen=True)
class OnlineSoftmax(SoftmaxRow):
    #: the op in the datasheet's words
    TEXT = ("row-wise softmax, p_i = 2^(t_i - log2(sum_j 2^t_j)) with t = x*log2(e), the base-2 form of "
            "e^(x_i - max) / sum_j e^(x_j - max), in two passes")
    exp2: object            # hw.spec.Spec of 2^f on [0, 1) (input u q.q, output in [1, 2))
    log2: object            # hw.spec.Spec of log2 on [1, 2) (input u f_m, output in [0, 1))
    row_max: int            # the longest row (hw/softmax/config.py declares it and its default)
    in_frac: int            # the scores' fractional bits (s8.F)
    out: Fixed = DEFAULT_OUT

    def __post_init__(self):
        if self.log2.output.frac < self.exp2.input.frac:
            raise ValueError("the log2 table needs at least the exp2 table's input fractional bits")
        if self.exp2.output.frac <= self.out.frac:
            raise ValueError("the exp2 table needs more fractional bits than the output")

    @property
    def input(self) -> Fixed:
        return Fixed(8, True, self.in_frac)

    @property
    def t_frac(self) -> int:
        """Fractional bits of ``t = X * LOG2E``."""
        return self.in_frac + LOG2E_FRAC

    @property
    def sum_bits(self) -> int:
        return (self.row_max * self.exp2.output.max_code).bit_length()

    @property
    def a_range(self) -> tuple[int, int]:
        """The powers ``a`` the input codes give (least, greatest)."""
        k, s = log2e(), self.t_frac
        return (self.input.min_code * k) >> s, (self.input.max_code * k) >> s

    @classmethod
    def from_manifest(cls, specs: dict, man: dict) -> "OnlineSoftmax":
        p = man["parameters"]
        bits = p.get("out_bits", DEFAULT_OUT.bits)
        return cls(specs["exp2"], specs["log2"], row_max=p["row_max"], in_frac=p["in_frac"],
                   out=Fixed(bits, False, bits))

    def t_q(self, x) -> np.ndarray:
        """``t_i >> (F + C - q)``: ``t`` of codes ``x`` with the exp2 table's ``q`` fractional bits
        (truncated; what both passes split into a power and a fraction)."""
        return (np.asarray(x, dtype=np.int64) * log2e()) >> (self.t_frac - self.exp2.input.frac)

    def exp2_of(self, e) -> tuple[np.ndarray, np.ndarray]:
        """``(e >> q, EXP2(e mod 2^q))`` of values ``e`` with ``q`` fractional bits, arrays of e's shape."""
        q = self.exp2.input.frac
        return e >> q, evaluate(self.exp2, (e & ((1 << q) - 1)).ravel()).astype(np.int64).reshape(e.shape)

    def terms(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(a_i, T_i)`` of codes ``x`` (steps 1 and 2), arrays of x's shape."""
        return self.exp2_of(self.t_q(x))

    @property
    def _big(self) -> int:
        """A shift past every width below gives 0, as any larger one: shifts are clamped to it, so
        int64 shifts stay defined."""
        return self.sum_bits + self.exp2.output.bits + 2

    def _statistics(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1 over each row of ``x`` (R x n codes, already cut to ``row_max``): ``(A, S)`` per
        row; the recurrence runs over the columns, each step over every row at once."""
        a, T = self.terms(x)
        big = self._big
        A, S = a[:, 0].copy(), np.zeros(len(a), dtype=np.int64)
        for j in range(a.shape[1]):
            An = np.maximum(A, a[:, j])
            S = (S >> np.minimum(An - A, big)) + round_half_up(T[:, j], np.minimum(An - a[:, j], big))
            A = An
        return A, S

    def log_sum(self, A, S) -> np.ndarray:
        """The calc: ``c`` of each row's ``(A, S)``, log2 of its denominator with ``q`` fractional bits."""
        q, g = self.exp2.input.frac, self.log2.output.frac
        m, lead = normalize(np.asarray(S, dtype=np.int64), self.log2.input.frac)
        l = evaluate(self.log2, m).astype(np.int64)
        return ((np.asarray(A, dtype=np.int64) + lead - self.exp2.output.frac) << q) + round_half_up(l, g - q)

    def _outputs(self, A, S, x) -> np.ndarray:
        """Pass 2: ``p_i`` of each row of codes ``x`` (R x n) under its row's ``(A, S)``."""
        b, T = self.exp2_of(self.t_q(x) - self.log_sum(A, S)[:, None])
        shift = self.exp2.output.frac - self.out.frac - np.minimum(b, 0)
        p = round_half_up(T, np.minimum(shift, self._big))
        return np.asarray(saturate(p, self.out), dtype=np.int64)

    def statistics(self, x) -> tuple[int, int]:
        """Pass 1 over codes ``x`` (already cut to ``row_max``): ``(A, S)``."""
        A, S = self._statistics(np.asarray(x, dtype=np.int64)[None, :])
        return int(A[0]), int(S[0])

    def outputs(self, A: int, S: int, x) -> np.ndarray:
        """Pass 2: ``p_i`` of codes ``x`` under a row's ``(A, S)``."""
        return self._outputs(np.array([A]), np.array([S]), np.asarray(x, dtype=np.int64)[None, :])[0]

    def row(self, x) -> np.ndarray:
        """Output codes of one row (of its first ``row_max`` elements)."""
        kept = np.asarray(x, dtype=np.int64)[: self.row_max]
        return self.outputs(*self.statistics(kept), kept)

    def kept(self, x) -> list:
        """The elements of a row that pass 2 carries."""
        return list(x[: self.row_max])

    def multi_pass(self, xs, lasts) -> tuple[np.ndarray, list[bool]]:
        """A row as the two-pass unit receives it: ``xs[0]`` up to pass 1's
        ``in_last`` (it sets the length, cut to ``row_max``, and the
        statistics), ``xs[1]`` the outputs' codes, of the kept length, with
        their ``in_last`` flags. The flag of output j: the row was cut, or
        pass 2 had ``in_last`` misplaced at or before j (DESIGN.md
        "Multi-pass row protocol"). Identical passes give :meth:`row`."""
        x1 = np.asarray(xs[0], dtype=np.int64)
        n = min(len(x1), self.row_max)
        cut, flags, err = len(x1) > self.row_max, [], False
        for j, last in enumerate(lasts[1]):
            err = err or bool(last) != (j == n - 1)
            flags.append(cut or err)
        return self.outputs(*self.statistics(x1[:n]), xs[1]), flags

    def rows(self, x) -> tuple[np.ndarray, bool]:
        """:meth:`row` of every row of ``x`` (R x n codes) at once (what ``make dse-model`` runs on
        MiniLM): the output codes (R x min(n, row_max)) and the overflow flag."""
        x = np.asarray(x, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError("rows: x must be a 2-D array of non-empty rows")
        kept = x[:, : self.row_max]
        return self._outputs(*self._statistics(kept), kept), x.shape[1] > self.row_max
