"""Composite row-wise ops and the PWL tables they are built from.

Each table is an ordinary fitted spec (a registry op plus fit options),
with formats chosen for the composite's arithmetic:

* softmax ``exp``: e^d on [-8, 0], input s8.4 (the unit's score format),
  output u16.15, slopes and intercepts s16.15. The row sum adds up to
  ROW_MAX tail terms, so the tail's error counts ROW_MAX times: with an
  INT8-output exp table (u8.7, s8.6 coefficients) a row of 90 scores 3-6
  units below its maximum sums 30 % short and the largest probability is
  off by 35 LSB; with 12-bit output and 10-bit coefficients the worst row
  of ``make bench-rowwise`` is still 12 LSB off; 16-bit output and
  coefficients bring every row of the benchmark within 2 LSB at 16 entries;
* softmax ``recip``: 1/m on the normalized row sum m in [1, 2): input u12.11
  (the 12 leading bits of the sum; 8 bits would cost up to 2^-7 relative
  error by truncation alone), output u12.11, slopes s10.9, intercepts s12.10
  (2 - m near m = 1);
* layernorm ``rsqrt``: 1/sqrt(m) on m in [1, 4) (even exponent): input
  u8.6, output u9.8, slopes s8.7, intercepts s10.8. A layernorm unit with
  a wider than 8-bit output uses the same table fitted at ``int16`` (8 more
  fractional bits everywhere: u16.14 -> u17.16), since the unit's output
  needs fewer fractional bits than the table's (``f_r > f_y``).

The softmax exp table follows the score format s8.F (``--sm-in-frac F``,
:func:`table_options`). The units' own options are their configurations
(``flow/config.py``); fitting and caching the tables is ``flow/build.py``.
"""

from __future__ import annotations

COMPOSITES = {
    "softmax": {
        "exp": {"op": "exp", "out_bits": 16, "out_frac": 15, "slope_bits": 16, "slope_frac": 15,
                "intercept_bits": 16, "intercept_frac": 15},
        "recip": {"op": "reciprocal", "range": [1.0, 2.0], "in_bits": 12, "in_frac": 11, "out_bits": 12,
                  "out_frac": 11, "slope_bits": 10, "slope_frac": 9, "intercept_bits": 12,
                  "intercept_frac": 10}},
    "layernorm": {
        "rsqrt": {"op": "rsqrt", "range": [1.0, 4.0], "in_frac": 6, "out_bits": 9, "out_frac": 8,
                  "slope_frac": 7, "intercept_bits": 10, "intercept_frac": 8}},
}
#: RMSNorm normalizes by the same rsqrt table as LayerNorm (W in [1, 4) either way)
COMPOSITES["rmsnorm"] = COMPOSITES["layernorm"]


def table_options(op: str, sm_in_frac: int = 4) -> dict:
    """Fit requests of composite ``op``'s tables: {name: {"op": ..., options}}.
    Softmax's exp table follows the score format s8.F: it covers the whole
    code range of d = x - max <= 0, i.e. [-2^(7-F), 0]; at F = 4 that is
    exp's registry range [-8, 0], so the default unit's request is the
    table above, unchanged."""
    out = {name: dict(req) for name, req in COMPOSITES[op].items()}
    if op == "softmax" and sm_in_frac != 4:
        out["exp"].update(in_frac=sm_in_frac, range=[-(2.0 ** (7 - sm_in_frac)), 0.0])
    return out
