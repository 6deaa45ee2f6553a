"""FP32 tables: the INT8 fit's breakpoints with binary32 slopes and intercepts.

The FP32 baseline must be the same table as the INT8 unit it is compared
with, so it reuses the INT8 breakpoints (exact in binary32: small integers
times a power of two) and takes per-segment least-squares lines in float64
on a dense grid, rounded to binary32. Metrics: ``mse_hw`` over 65,537
binary32 inputs evenly spread over the range, outputs from the FP32 golden
model; ``mse_fp`` as for every spec; ``max_err_lsb`` in LSBs of the op's
INT8 output format, so the figure compares with the INT8 unit's.
"""

from __future__ import annotations

import numpy as np

from fitter import functions
from fitter.fit import datapath
from hw.spec import Coeffs, Spec

GRID = 1 << 16


def fit_fp32(op: str, entries: int, bps8, req: dict) -> tuple[Spec, None]:
    from hw.fp32 import model as fp
    from hw.pwl_fp32.model import evaluate

    func = functions.get(op)
    dp8 = datapath(func, "int8", **{k: req.get(k) for k in ("in_bits", "in_frac", "out_bits", "out_frac")})
    lo, hi = req["range"] or func.range
    bps = np.asarray(bps8, dtype=np.float64) * dp8.x.lsb
    xs = np.linspace(lo, hi, GRID + 1)
    ts = func(xs)
    seg = np.searchsorted(bps, xs, side="right")
    K, C = np.zeros(entries), np.zeros(entries)
    for i in range(entries):
        xi, ti = xs[seg == i], ts[seg == i]
        if len(xi) >= 2 and np.ptp(xi) > 0:
            K[i], C[i] = np.polyfit(xi, ti, 1)
        elif len(xi):
            C[i] = ti.mean()
    f32 = lambda v: tuple(float(np.float32(a)) for a in v)   # noqa: E731
    spec = Spec(op, entries, None, f32(bps), Coeffs(None, f32(K)), Coeffs(None, f32(C)), None)
    x32 = np.float32(xs)
    y = fp.floats(evaluate(spec, fp.bits(x32))).astype(np.float64)
    t32 = func(x32.astype(np.float64))
    xf = np.arange(lo, hi, 0.01)
    _, Kf, Cf = spec.arrays()                  # the binary32 values just stored
    sf = np.searchsorted(bps, xf, side="right")
    yf = Kf[sf] * xf + Cf[sf]
    err = np.abs(y - t32)
    spec.fit = {"method": "int8 breakpoints + float least squares", "seed": req["seed"],
                "range": [float(lo), float(hi)],
                "domain": f"sampled {GRID + 1} binary32 values",
                "metrics": {"mse_hw": float(np.mean((y - t32) ** 2)),
                            "mse_fp": float(np.mean((yf - func(xf)) ** 2)),
                            "max_err_lsb": float(err.max() * 2.0 ** dp8.y.frac),
                            "worst_input": float(x32[int(err.argmax())])},
                "max_err_lsb_unit": f"LSB of the int8 output format {dp8.y.label()}"}
    return spec, None
