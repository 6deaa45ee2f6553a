"""Golden model of the softmax unit (bit-exact), from the PWL golden model.

Per row of input codes ``x`` (the exp table's input format):

1. ``mx = max(x)``; ``d_i = max(x_i - mx, min_code)``: the exp table's
   input range bounds how far below the maximum a score can usefully sit
   (exp(-8) is below half an output LSB for the default formats);
2. ``e_i = EXP(d_i)`` (exp PWL table, golden model);
3. ``S = sum(e_i)``, exact (``sum_bits`` wide, no overflow for ROW_MAX);
4. ``S = m * 2**(L - f_m)`` with ``m`` in [1, 2) (leading one, truncation),
   ``r = RECIP(m)`` (reciprocal PWL table on [1, 2));
5. ``p_i = sat(round_half_up(e_i * r, f_r + L - f_out))``: since
   ``1/S = r * 2**-(f_r + L)`` in real units, p_i = e_i / S.

A row longer than ``row_max`` keeps its first ``row_max`` elements and is
flagged (``overflow``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, round_half_up, saturate
from hw.norm import normalize
from hw.pwl_int.model import evaluate
from hw.softmax.common import DEFAULT_OUT, SoftmaxRow
from hw.softmax.online import OnlineSoftmax


@dataclass(frozen=True)
class Softmax(SoftmaxRow):
    #: the op in the datasheet's words
    TEXT = "row-wise softmax, p_i = e^(x_i - max) / sum_j e^(x_j - max)"
    exp: object            # hw.spec.Spec of the exp table (input: d, output: e)
    recip: object          # hw.spec.Spec of the reciprocal table on [1, 2)
    row_max: int           # the longest row (hw/softmax/config.py declares it and its default)
    out: Fixed = DEFAULT_OUT

    @property
    def input(self) -> Fixed:
        return self.exp.input

    @property
    def sum_bits(self) -> int:
        return (self.row_max * self.exp.output.max_code).bit_length()

    def __post_init__(self):
        if self.recip.output.frac <= self.out.frac:
            raise ValueError("the reciprocal table needs more fractional bits than the output")

    @classmethod
    def from_manifest(cls, specs: dict, man: dict) -> "Softmax":
        if "exp2" in specs:         # the two-pass unit's base-2 arithmetic (ROW_STORE=none, sram)
            return OnlineSoftmax.from_manifest(specs, man)
        return cls(specs["exp"], specs["recip"], row_max=man["parameters"]["row_max"])

    def row(self, x) -> np.ndarray:
        """Output codes of one row (of its first ``row_max`` elements: a longer
        row is flagged, :meth:`stream_row`)."""
        kept = np.asarray(x, dtype=np.int64)[: self.row_max]
        mx = int(kept.max())
        return self.outputs(mx, self.recip_of(mx, kept), kept)

    def recip_of(self, mx: int, x) -> tuple[int, int]:
        """``(r, L)`` of a row's sum of ``EXP(max(x_i - mx, d_min))``."""
        e = evaluate(self.exp, np.maximum(np.asarray(x, dtype=np.int64) - mx, self.exp.input.min_code))
        m, lead = normalize(int(e.sum()), self.recip.input.frac)
        return int(evaluate(self.recip, [m])[0]), lead

    def outputs(self, mx: int, rl: tuple[int, int], x) -> np.ndarray:
        """``p_i`` of codes ``x`` under a row's maximum and reciprocal."""
        r, lead = rl
        e = evaluate(self.exp, np.maximum(np.asarray(x, dtype=np.int64) - mx, self.exp.input.min_code))
        p = round_half_up(e * r, self.recip.output.frac + lead - self.out.frac)
        return np.asarray(saturate(p, self.out), dtype=np.int64)

    def rows(self, x) -> tuple[np.ndarray, bool]:
        """:meth:`row` of every row of ``x`` (R x n codes) at once (``batch.py``)."""
        from hw.softmax.batch import rows
        return rows(self, x)


MODEL = Softmax
