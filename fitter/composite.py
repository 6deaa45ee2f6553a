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
  u8.6, output u9.8, slopes s8.7, intercepts s10.8.
"""

from __future__ import annotations

from pathlib import Path

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


def tables(op: str, entries: int, build, quiet: bool = True, seed: int = 0) -> dict:
    """Fit or reuse every table of composite ``op``: {name: Spec}."""
    from fitter.build import ensure_spec
    out = {}
    for name, req in COMPOSITES[op].items():
        opts = {k: v for k, v in req.items() if k != "op"}
        sub = f"{op}_tables"
        spec, _, _ = ensure_spec(req["op"], "int8", entries, build / sub, quiet, seed=seed, **opts)
        out[name] = spec
    return out


def rowwise_model(op: str, entries: int, build, quiet: bool = True, seed: int = 0,
                  row: int | None = None):
    """The golden-model object of composite ``op`` (tables fitted or reused)
    and its tables; ``row`` is softmax's ROW_MAX or layernorm's row length."""
    from hw.layernorm.model import LayerNorm
    from hw.softmax.model import Softmax
    tabs = tables(op, entries, Path(build), quiet, seed)
    if op == "softmax":
        return Softmax(tabs["exp"], tabs["recip"], row_max=row or 128), tabs
    return LayerNorm(tabs["rsqrt"], row_len=row or 64), tabs
