"""Fit an operator to a LUT spec: formats, search method, metrics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fitter import functions
from fitter.exact import GIVEN_BREAKPOINTS, best_lines, fit_exact
from fitter.ga import GAConfig, run_ga
from fitter.problem import FitError, Problem
from hw.fixed import WIDEN, Fixed
from hw.pwl_int.model import Datapath
from hw.spec import Coeffs, Spec

FORMATS = tuple(WIDEN) + ("fp32",)
METHODS = ("ga", "uniform", "exact")


def _widen(f: Fixed, extra: int) -> Fixed:
    return Fixed(f.bits + extra, f.signed, f.frac + extra)


def datapath(func: functions.Function, fmt: str = "int8", **over) -> Datapath:
    """Formats for ``func`` at ``fmt``; ``over`` may set in_bits, in_frac,
    out_bits, out_frac, slope_frac, intercept_frac, slope_bits,
    intercept_bits (values at int8)."""
    fmts = {"in": func.input, "out": func.output, "slope": func.slopes, "intercept": func.intercepts}
    for name in fmts:
        for field in ("bits", "frac"):
            if over.get(f"{name}_{field}") is not None:
                fmts[name] = replace(fmts[name], **{field: over[f"{name}_{field}"]})
    x, y, k, c = fmts["in"], fmts["out"], fmts["slope"], fmts["intercept"]
    for name, f in (("in", x), ("out", y), ("slope", k), ("intercept", c)):
        if not 2 <= f.bits <= 32:
            raise FitError(f"--{name}-bits {f.bits} is out of range: use 2..32")
    extra = WIDEN[fmt]
    return Datapath(*(_widen(f, extra) for f in (x, k, c, y)))


def uniform_genes(prob: Problem) -> np.ndarray:
    """Breakpoints evenly spaced over the range: the baseline table."""
    return np.linspace(prob.lo, prob.hi, prob.entries + 1)[1:-1][None, :]


def fit(op: "str | functions.Function", entries: int = 8, fmt: str = "int8", seed: int = 0, method: str = "ga",
        rng_range: tuple | None = None, ga: GAConfig | None = None, bps8=None,
        **over) -> tuple[Spec, Problem]:
    """Fit ``op`` and return its spec and the problem it was scored on.

    Wider formats keep the INT8 breakpoints (``bps8``, searched here when not
    given) -- exact, since a breakpoint moves to ``code << extra`` -- and
    re-derive slopes and intercepts at their own precision.
    """
    func = op if isinstance(op, functions.Function) else functions.get(op)
    if fmt not in WIDEN:
        raise FitError(f"unknown format '{fmt}' for an integer fit; known: {', '.join(WIDEN)}")
    if method not in METHODS:
        raise FitError(f"unknown method '{method}'; known: {', '.join(METHODS)}")
    if not 1 <= entries <= 256:
        raise FitError(f"entries {entries} is out of range: use 1..256")
    lo, hi = rng_range if rng_range else func.range
    ga = ga or GAConfig()
    ga = replace(ga, seed=seed, round_prob=ga.round_prob if ga.round_prob is not None else func.round_mut_prob)
    base = Problem(func, lo, hi, datapath(func, "int8", **over), entries)
    exact = None
    if bps8 is None:
        if method == "ga":
            bps8 = run_ga(base, ga)[0]
        elif method == "exact":
            exact = fit_exact(base, ga.objective)
            bps8 = exact.bps
        else:
            bps8 = base.decode(uniform_genes(base))[0]
    prob = base if fmt == "int8" else Problem(func, lo, hi, datapath(func, fmt, **over), entries)
    bps = (np.asarray(bps8, dtype=np.int64) << WIDEN[fmt])[None, :]
    if method != "exact":
        K, C = prob.coeffs(bps, ga.rule, ga.objective)
    elif exact is not None and fmt == "int8":
        K, C = exact.K[None], exact.C[None]
    else:                       # wide formats: re-search the lines at full width
        K, C = best_lines(prob, bps, ga.objective)
    metrics = prob.metrics(bps[0], K[0], C[0])
    dp = prob.dp
    fitinfo = {"method": method, "seed": seed, "range": [float(lo), float(hi)],
               "objective": ga.objective, "rule": "exact" if method == "exact" else ga.rule,
               "domain": ("sampled %d codes" % len(prob.q)) if prob.sampled else "all codes",
               "metrics": metrics}
    if method == "ga":
        fitinfo["ga"] = ga.describe()
    if method == "exact":
        fitinfo["exact"] = exact.info if exact is not None and fmt == "int8" else {"optimality": GIVEN_BREAKPOINTS}
    if fmt != "int8":
        fitinfo["breakpoints_from"] = "int8 fit, shifted left by %d" % WIDEN[fmt]
    spec = Spec(func.name, entries, dp.x, tuple(int(b) for b in bps[0]),
                Coeffs(dp.k, tuple(int(v) for v in K[0])), Coeffs(dp.c, tuple(int(v) for v in C[0])),
                dp.y, fitinfo)
    return spec, prob


def spec_metrics(spec: Spec) -> dict | None:
    """The metrics of any integer PWL spec of a registry op, measured on its
    own table over its fit range (the op's range when the spec has none, or
    ``fit.range`` is not two finite numbers lo < hi);
    None where there is no float reference (unknown op, fp32)."""
    if spec.is_fp32 or not functions.known(spec.op) or getattr(spec, "impl", "pwl") != "pwl":
        return None
    func = functions.get(spec.op)
    r = spec.fit.get("range")           # the fit block is free-form: a range is used only if it is one
    usable = (isinstance(r, (list, tuple)) and len(r) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in r) and r[0] < r[1])
    lo, hi = r if usable else func.range
    dp = Datapath(spec.input, spec.slopes.fmt, spec.intercepts.fmt, spec.output)
    bps, K, C = spec.arrays()
    return Problem(func, float(lo), float(hi), dp, spec.entries).metrics(bps, K, C)
