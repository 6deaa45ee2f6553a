"""The softmax unit's configuration: its options, declared once, and the
tables it is built from.

Each table is an ordinary fitted spec (a registry op plus fit options),
with formats chosen for the unit's arithmetic:

* ``exp``: e^d on [-8, 0], input s8.4 (the unit's score format), output
  u16.15, slopes and intercepts s16.15. The row sum adds up to ROW_MAX tail
  terms, so the tail's error counts ROW_MAX times: with an INT8-output exp
  table (u8.7, s8.6 coefficients) a row of 90 scores 3-6 units below its
  maximum sums 30 % short and the largest probability is off by 35 LSB;
  with 12-bit output and 10-bit coefficients the worst row of ``make
  bench-rowwise`` is still 12 LSB off; 16-bit output and coefficients bring
  every row of the benchmark within 2 LSB at 16 entries. It follows the
  score format s8.F (``--sm-in-frac F``): it covers the whole code range of
  d = x - max <= 0, i.e. [-2^(7-F), 0]; at F = 4 that is exp's registry
  range [-8, 0], so the default unit's request is :data:`TABLES`' own;
* ``recip``: 1/m on the normalized row sum m in [1, 2): input u12.11 (the
  12 leading bits of the sum; 8 bits would cost up to 2^-7 relative error
  by truncation alone), output u12.11, slopes s10.9, intercepts s12.10
  (2 - m near m = 1).

Without a flip-flop row store (``ROW_STORE=none`` and ``sram``) the unit is
the two-pass one (``online.py``), whose sum follows the maximum in base 2:
its tables are :func:`online_tables`' (at the default output):

* ``exp2``: 2^f on [0, 1), input u10.10 (the top 10 fractional bits of
  ``x * log2 e``), output u16.15 (the values are in [1, 2)), slopes and
  intercepts s16.14 (the slope reaches 2 ln 2 = 1.39 at the top, and the
  first intercept 1: s16.15 clipped both, and the table was 171 output LSB
  off near f = 1); the score format does not change the table (f is a
  fraction of a power of two whatever F is). Both passes read it;
* ``log2``: log2(m) on the normalized row sum m in [1, 2): input u12.11
  (as ``recip``), output u12.12 (rounded to the exp2 table's 10 fractional
  bits for pass 2: with 10 bits out of the table every row of ``make
  bench-rowwise`` was 0.07 LSB further from float), slopes and intercepts
  s12.10.

With wider probabilities (``SM_OUT_BITS=B``, uB.B, two-pass unit only) both
tables follow: the exp2 input u(B+2).(B+2), the log2 table u(B+4).(B+3) in
and u(B+4).(B+4) out (:func:`online_tables`): a 10-bit table input caps the
error near 7e-4 whatever the output's width.

Fitting and caching the tables is ``flow/build.py``.
"""

from __future__ import annotations

from hw.fixed import Fixed
from hw.params import ConfigError, ints
from hw.rowwise import model_class
from hw.softmax.common import DEFAULT_OUT
from hw.softmax.online import LOG2E_FRAC, OnlineSoftmax
from hw.unitconfig import ROW_RANGE, RowConfig, buffers_param, entries_param, fit_param, lanes_param, \
    store_param, declared

#: the widest probabilities (SM_OUT_BITS): beyond it the 16-entry exp2 table's own error (3e-4)
#: dominates (u14.14 measured 5.6 LSB from float on make bench-rowwise's rows, u12.12 1.4)
MAX_OUT_BITS = 12
#: the unit's tables at the default score format s8.4 (see the module's text)
TABLES = {
    "exp": {"op": "exp", "out_bits": 16, "out_frac": 15, "slope_bits": 16, "slope_frac": 15,
            "intercept_bits": 16, "intercept_frac": 15},
    "recip": {"op": "reciprocal", "range": [1.0, 2.0], "in_bits": 12, "in_frac": 11, "out_bits": 12,
              "out_frac": 11, "slope_bits": 10, "slope_frac": 9, "intercept_bits": 12, "intercept_frac": 10},
}


def online_tables(out_bits: int = DEFAULT_OUT.bits, in_frac: int = 4) -> dict:
    """The two-pass unit's tables (ROW_STORE=none, sram; see the module's text) for probabilities
    u``out_bits``.``out_bits``: the exp2 table's input fraction ``q`` is 2 bits finer than the
    output (at most t's own, ``in_frac + LOG2E_FRAC``), and the log2 table's output 2 bits finer
    than ``q``; at u8.8 that is u10.10 and u12.12."""
    q = min(out_bits + 2, in_frac + LOG2E_FRAC)
    return {
        "exp2": {"op": "exp2", "in_bits": q, "in_frac": q, "out_bits": 16, "out_frac": 15, "slope_bits": 16,
                 "slope_frac": 14, "intercept_bits": 16, "intercept_frac": 14},
        "log2": {"op": "log2", "in_bits": q + 2, "in_frac": q + 1, "out_bits": q + 2, "out_frac": q + 2,
                 "slope_bits": q + 2, "slope_frac": q, "intercept_bits": q + 2, "intercept_frac": q},
    }


@declared
class Softmax(RowConfig):
    """Row-wise softmax over rows of 1..``row_max`` scores in s8.``in_frac``."""
    PARAMS = (
        entries_param(),
        ints("row_max", 128, *ROW_RANGE, what="--row", make="ROW", flag="--row", metavar="N",
             suffix=lambda n: f"_r{n}", help="the longest row", brief="the longest row (softmax), the row length (norms)"),
        ints("in_frac", 4, 0, 7, " (scores s8.F)", what="--sm-in-frac", make="SM_IN_FRAC", flag="--sm-in-frac",
             metavar="F", suffix=lambda f: f"_i8f{f}", help="scores s8.F", brief="fractional bits of the s8 scores"),
        buffers_param(),
        fit_param("how the tables are fitted"),
        store_param(),
        #: one lane only, for now: the field exists so that every row-wise configuration takes LANES alike
        lanes_param("one lane only (LANES applies to layernorm and rmsnorm)"),
        ints("out_bits", DEFAULT_OUT.bits, DEFAULT_OUT.bits, MAX_OUT_BITS, " (probabilities uB.B)",
             what="--sm-out-bits", make="SM_OUT_BITS", flag="--sm-out-bits", metavar="B", suffix=lambda b: f"_o{b}",
             help="probabilities uB.B (ROW_STORE=none or sram)", brief="bits of the probabilities (softmax)",
             sparse=True),
    )
    MAKE = ("entries", "row_max", "in_frac", "out_bits", "row_buffers", "row_store")
    #: the buffered unit's arithmetic, and the two-pass unit's base-2 one (none and sram)
    ARITHMETIC_STORES = {"ff": "ff", "none": "none, sram"}
    kind = "softmax"
    op = "softmax"

    def check(self):
        if self.lanes != 1:
            raise ConfigError(f"--lanes {self.lanes}: the softmax unit has one lane (LANES applies to layernorm "
                              "and rmsnorm with --row-store none or sram)")
        if self.changed("out_bits") and not self.online:
            raise ConfigError(f"--sm-out-bits {self.out_bits}: the buffered unit (--row-store ff) outputs "
                              f"{DEFAULT_OUT.label()}; wider probabilities need --row-store none or sram")
        super().check()

    @property
    def name(self) -> str:
        return (f"softmax_int8_e{self.entries}{self.fit.variant_tag()}"
                + self.part("row_max", "in_frac", "out_bits", "row_buffers", "row_store"))

    def model(self, tabs: dict):
        """The golden model of this unit, from its fitted tables."""
        if self.online:
            return OnlineSoftmax(tabs["exp2"], tabs["log2"], row_max=self.row_max, in_frac=self.in_frac,
                                 out=self.out)
        return model_class(self.op)(tabs["exp"], tabs["recip"], row_max=self.row_max)

    def summary(self) -> str:
        return f"scores s8.{self.in_frac} (SM_IN_FRAC), probabilities {self.out.label()} (SM_OUT_BITS)"

    @property
    def out(self) -> Fixed:
        """The probabilities' format, uB.B."""
        return Fixed(self.out_bits, False, self.out_bits)

    @property
    def online(self) -> bool:
        """Whether the unit is the two-pass one (no flip-flop row store)."""
        return self.row_store != "ff"

    @property
    def row_length(self) -> int:
        return self.row_max

    @property
    def in_bits(self) -> int:
        return 8

    def table_options(self) -> dict:
        """Fit requests of the unit's tables: {name: {"op": ..., options}}."""
        if self.online:
            return online_tables(self.out_bits, self.in_frac)
        out = {name: dict(req) for name, req in TABLES.items()}
        if self.changed("in_frac"):
            out["exp"].update(in_frac=self.in_frac, range=[-(2.0 ** (7 - self.in_frac)), 0.0])
        return out

    def request(self) -> dict:
        d = super().request()
        d.pop("lanes", None)                # always 1
        return d


CONFIG = Softmax
