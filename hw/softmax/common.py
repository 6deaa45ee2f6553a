"""What the two softmax golden models share (``model.py``, the buffered
unit's; ``online.py``, the two-pass unit's): the row-wise contract's
constants, the default output format and the float reference."""

from __future__ import annotations

import dataclasses

import numpy as np

from hw.fixed import Fixed

DEFAULT_OUT = Fixed(8, False, 8)


class SoftmaxRow:
    """Mixin of a softmax golden model (fields ``row_max``, ``out`` and an ``input`` format)."""
    #: the row-wise op (hw.rowwise.ROWWISE_OPS); its folder holds its stimulus (hw.rowwise.stimulus)
    OP = "softmax"
    #: what a row's outputs sum to in exact arithmetic (the benchmark's row-sum error)
    ROW_SUM = 1.0
    #: the row-wise contract (as hw/layernorm/model.py): the output flag's port, row(codes) ->
    #: output codes, and stream_row(codes, lasts) -> (output codes, flag) for a row as the unit receives it
    flag = "out_overflow"

    def tables(self) -> dict:
        """{name: spec} of the model's tables (its fields that are specs)."""
        from hw.spec import Spec
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), Spec)}

    def stream_row(self, x, lasts=None) -> tuple[np.ndarray, bool]:
        """A row as the stream delivers it: softmax ends a row at its
        ``in_last`` (``x`` is the row up to it), so ``lasts`` adds nothing;
        the flag is the overflow of a row longer than ROW_MAX."""
        return self.row(x), len(x) > self.row_max

    def reference(self, x) -> np.ndarray:
        """Float softmax of the row's real values, in output LSBs."""
        v = np.asarray(x[: self.row_max], dtype=np.float64) * self.input.lsb
        ex = np.exp(v - v.max())
        return ex / ex.sum() * 2.0 ** self.out.frac
