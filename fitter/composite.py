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
:func:`softmax_exp_options`). LayerNorm generator options (:class:`LNOptions`): input and output formats,
eps, and per-channel gamma/beta (formats and initial contents).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.fixed import Fixed
from hw.layernorm.model import DEFAULT_BETA, DEFAULT_GAMMA, DEFAULT_IN, DEFAULT_OUT

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


@dataclass(frozen=True)
class LNOptions:
    """LayerNorm generator options; the defaults build the original unit."""
    input: Fixed = DEFAULT_IN
    out: Fixed = DEFAULT_OUT
    eps: float = 1e-5
    affine: bool = False
    gamma_fmt: Fixed = DEFAULT_GAMMA
    beta_fmt: Fixed = DEFAULT_BETA
    params: Path | None = None      # initial gamma/beta (real values); None: gamma 1, beta 0
    rsqrt: str = "auto"             # rsqrt table format: int8, int16, or auto (int16 for > 8-bit out)

    @property
    def rsqrt_format(self) -> str:
        if self.rsqrt == "auto":
            return "int16" if self.out.bits > 8 else "int8"
        return self.rsqrt


def parse_fixed(v: str, what: str, max_bits: int = 16) -> Fixed:
    """``s16.8`` -> a signed 16-bit format with 8 fractional bits (layernorm
    formats are signed); raises ValueError naming ``what`` otherwise. The
    fractional part may be negative (``s8.-1``: codes count steps of 2), as
    a calibrated power-of-two scale of a wide-ranged tensor can be."""
    import re
    mt = re.fullmatch(r"s(\d+)\.(-?\d+)", v.strip())
    if not mt:
        raise ValueError(f"{what} '{v}' is not a signed format sB.F (e.g. s16.8)")
    bits, frac = int(mt.group(1)), int(mt.group(2))
    if not 2 <= bits <= max_bits or not -8 <= frac <= 31:
        raise ValueError(f"{what} '{v}' is out of range: use 2..{max_bits} bits and -8..31 fractional bits")
    return Fixed(bits, True, frac)


def _quantize(vals, f: Fixed, what: str, n: int) -> tuple:
    v = np.asarray(vals, dtype=np.float64).ravel()
    if len(v) != n:
        raise ValueError(f"{what}: {len(v)} values for a row length of {n}")
    lo, hi = (f.min_code - 0.5) * f.lsb, (f.max_code + 0.5) * f.lsb
    bad = np.flatnonzero(~((v >= lo) & (v < hi)))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{what}[{i}] = {v[i]:g} is outside {f.label()} "
                         f"[{f.min_code * f.lsb:g}, {f.max_code * f.lsb:g}]")
    return tuple(int(c) for c in f.quantize(v))


def ln_params(opts: LNOptions, n: int) -> tuple[tuple, tuple]:
    """Initial gamma and beta codes: from ``opts.params`` (JSON
    ``{"gamma": [...], "beta": [...]}`` real values, either may be missing;
    or .npy of shape (2, n): gamma row, beta row), else gamma 1, beta 0.
    Real values are rounded half up to the formats; out of range is an error."""
    gamma, beta = np.ones(n), np.zeros(n)
    if opts.params is not None:
        path = Path(opts.params)
        try:
            if path.suffix == ".npy":
                arr = np.load(path, allow_pickle=False)
                if arr.shape != (2, n):
                    raise ValueError(f"{path}: shape {arr.shape}, need (2, {n}) (gamma row, beta row)")
                gamma, beta = arr[0], arr[1]
            else:
                doc = json.loads(path.read_text())
                if not isinstance(doc, dict) or not set(doc) <= {"gamma", "beta"}:
                    raise ValueError(f"{path}: need a JSON object with 'gamma' and/or 'beta' lists")
                gamma, beta = doc.get("gamma", gamma), doc.get("beta", beta)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read gamma/beta from {path}: {e}") from None
    return _quantize(gamma, opts.gamma_fmt, "gamma", n), _quantize(beta, opts.beta_fmt, "beta", n)


#: softmax score formats s8.F the generator takes (``--sm-in-frac``); 4 is the default unit
SM_IN_FRACS = range(0, 8)


def check_sm_in_frac(in_frac, what: str = "softmax input frac") -> int:
    """``in_frac`` if it is a score format s8.F the generator takes;
    ValueError naming ``what`` otherwise."""
    if in_frac not in SM_IN_FRACS:
        raise ValueError(f"{what} {in_frac} is out of range: use {SM_IN_FRACS[0]}..{SM_IN_FRACS[-1]} "
                         "(scores s8.F)")
    return in_frac


def softmax_exp_options(in_frac: int = 4) -> dict:
    """Fit options of the softmax exp table for scores in s8.``in_frac``.
    The table covers the whole code range of d = x - max <= 0, i.e.
    [-2^(7-F), 0]; at F = 4 that is exp's registry range [-8, 0], so the
    default unit's request is the table above, unchanged."""
    check_sm_in_frac(in_frac)
    ex = {k: v for k, v in COMPOSITES["softmax"]["exp"].items() if k != "op"}
    if in_frac != 4:
        ex.update(in_frac=in_frac, range=[-(2.0 ** (7 - in_frac)), 0.0])
    return ex


def tables(op: str, entries: int, build, quiet: bool = True, seed: int = 0, fmt: str = "int8",
           sm_in_frac: int = 4) -> dict:
    """Fit or reuse every table of composite ``op``: {name: Spec}."""
    from fitter.build import ensure_spec
    out = {}
    for name, req in COMPOSITES[op].items():
        opts = {k: v for k, v in req.items() if k != "op"}
        if op == "softmax" and name == "exp":
            opts = softmax_exp_options(sm_in_frac)
        sub = f"{op}_tables"
        spec, _, _ = ensure_spec(req["op"], fmt, entries, build / sub, quiet, seed=seed, **opts)
        out[name] = spec
    return out


def rowwise_model(op: str, entries: int, build, quiet: bool = True, seed: int = 0,
                  row: int | None = None, ln: LNOptions | None = None, sm_in_frac: int = 4):
    """The golden-model object of composite ``op`` (tables fitted or reused)
    and its tables; ``row`` is softmax's ROW_MAX or layernorm's row length,
    ``ln`` layernorm's options, ``sm_in_frac`` softmax's score format
    s8.F. Raises ValueError for an impossible configuration (before any
    table is fitted where it can)."""
    from hw.layernorm.model import LayerNorm
    from hw.softmax.model import Softmax
    if op == "softmax":
        softmax_exp_options(sm_in_frac)          # validates before any fit
        tabs = tables(op, entries, Path(build), quiet, seed, sm_in_frac=sm_in_frac)
        return Softmax(tabs["exp"], tabs["recip"], row_max=row or 128), tabs
    ln = ln or LNOptions()
    n = row or 64
    kw = {}
    if ln.affine:
        g, b = ln_params(ln, n)
        kw = {"gamma": g, "beta": b, "gamma_fmt": ln.gamma_fmt, "beta_fmt": ln.beta_fmt}
    f_r = COMPOSITES["layernorm"]["rsqrt"]["out_frac"] + (8 if ln.rsqrt_format == "int16" else 0)
    if ln.out.frac >= f_r:
        raise ValueError(f"output {ln.out.label()}: the {ln.rsqrt_format} rsqrt table has {f_r} fractional "
                         f"bits, the output needs fewer (at most {f_r - 1})")
    if ln.affine and ln.beta_fmt.frac > ln.out.frac:
        raise ValueError(f"beta {ln.beta_fmt.label()} is finer than the output {ln.out.label()}: "
                         f"use at most {ln.out.frac} fractional bits for beta")
    if n < 2:
        raise ValueError(f"row length {n}: a layernorm row needs at least 2 elements")
    tabs = tables(op, entries, Path(build), quiet, seed, ln.rsqrt_format)
    return LayerNorm(tabs["rsqrt"], row_len=n, input=ln.input, out=ln.out, eps=ln.eps, **kw), tabs
