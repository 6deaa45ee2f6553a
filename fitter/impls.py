"""Fits for the ``table`` and ``uniform`` implementations (``spec.impl``).

numpy and the hw golden models only. Formats come from
:func:`fitter.fit.datapath` exactly as for the PWL fits (``fmt`` int8 /
int16 / int32 and the same ``over`` options: ``in_bits``, ``in_frac``,
``out_bits``, ``out_frac``, ``slope_bits``, ... as values at int8), and the
metrics from :meth:`fitter.problem.Problem.metrics` over the same domain
(the input codes inside the op's range, or ``rng_range``).

* :func:`fit_table`: every input code's output, correctly rounded: the
  float function rounded half up at the output LSB and saturated
  (:func:`hw.table.model.correctly_rounded`), so ``max_err_lsb`` <= 0.5
  wherever the function lies inside the output range (saturated codes, e.g.
  reciprocal(0.5) = 2 in u8.7, are off by what saturation costs). The table
  holds every code of the input format, also outside the range.
  ``mse_fp`` of a table: a table has no float model apart from its stored
  values, so ``mse_fp`` is the mean squared error of the (dequantized)
  table values against the function at the domain's codes -- equal to
  ``mse_hw`` by construction.
* :func:`fit_uniform`: ``entries`` = 2^k equal segments over the whole
  input format; per segment a line by ``rule`` (``lsq``: least squares,
  slope quantized, intercept refitted for the quantized slope and
  quantized; ``chord``, ``auto`` as in :meth:`fitter.problem.Problem.coeffs`;
  ``exact``: :func:`fitter.exact.best_lines`' window search) over the
  domain codes that segment holds. Segments with no code in the range get
  the line of the nearest fitted segment (the PWL unit extends its edge
  lines the same way). Scored by the uniform golden model over every domain
  code (checked equal to the Problem's own scoring).
"""

from __future__ import annotations

import numpy as np

from fitter import functions
from fitter.fit import WIDEN, datapath
from fitter.problem import FitError, Problem
from hw.spec import MAX_TABLE_BITS, Coeffs, Spec, uniform_boundaries
from hw.table.model import correctly_rounded
from hw.uniform import model as uniform_model

UNIFORM_RULES = ("lsq", "auto", "chord", "exact")

MSE_FP_TABLE = ("table: mse_fp = mean squared error of the table values against the function at the "
                "domain's input codes (a table has no float model apart from its values; equals mse_hw)")


def _func(op) -> functions.Function:
    return op if isinstance(op, functions.Function) else functions.get(op)


def _check_fmt(fmt: str) -> None:
    if fmt not in WIDEN:
        raise FitError(f"unknown format '{fmt}' for an integer fit; known: {', '.join(WIDEN)}")


class _TableProblem(Problem):
    """A :class:`Problem` whose table is a list of output codes: ``hw_out``
    reads them (``C`` holds the values, one per input code from min_code;
    ``bps`` and ``K`` are unused) and the ``fp`` score is the values' mean
    squared error at the domain codes, so :meth:`Problem.metrics` applies."""

    def hw_out(self, bps, K, C, seg=None):
        return np.atleast_2d(np.asarray(C, np.int64))[:, self.q - self.dp.x.min_code]

    def score(self, bps, K, C, objective: str = "hw"):
        err = self.dp.y.to_real(self.hw_out(bps, K, C)) - self.t
        return (err * err).mean(axis=-1)


def fit_table(op, fmt: str = "int8", rng_range: tuple | None = None, **over) -> Spec:
    """Correctly rounded table of ``op`` at ``fmt`` (input at most 12 bits:
    int8, or e.g. ``in_bits=10, in_frac=7``); ``spec.fit["metrics"]`` over
    the op's range (or ``rng_range``)."""
    func = _func(op)
    _check_fmt(fmt)
    dp = datapath(func, fmt, **over)
    x, y = dp.x, dp.y
    if x.bits > MAX_TABLE_BITS:
        raise FitError(f"a table holds one value per input code: at most {MAX_TABLE_BITS} input bits, "
                       f"{fmt} gives {x.label()} (choose --in-bits <= {MAX_TABLE_BITS})")
    codes = x.codes()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_all = func(x.to_real(codes))
    values = correctly_rounded(t_all, y)
    lo, hi = rng_range if rng_range else func.range
    prob = _TableProblem(func, lo, hi, dp, 1)
    empty = np.zeros((1, 0), np.int64)
    metrics = prob.metrics(empty, np.zeros((1, 1), np.int64), values[None, :])
    fitinfo = {"method": "table", "impl": "table", "range": [float(lo), float(hi)],
               "rule": "correctly rounded: round half up at the output LSB, saturated",
               "domain": ("sampled %d codes" % len(prob.q)) if prob.sampled else "all codes",
               "metrics": metrics, "mse_fp": MSE_FP_TABLE}
    return Spec(func.name, 1 << x.bits, x, (), None, None, y, fitinfo, impl="table",
                values=tuple(int(v) for v in values))


def fit_uniform(op, entries: int = 8, fmt: str = "int8", rule: str = "lsq", objective: str = "hw",
                rng_range: tuple | None = None, **over) -> Spec:
    """Uniform-segment table of ``op``: ``entries`` (a power of two, 2..2^bits)
    equal segments over the input format, one line per segment by ``rule``
    (:data:`UNIFORM_RULES`) under ``objective`` (hw, fp, rel as for the
    PWL fits)."""
    func = _func(op)
    _check_fmt(fmt)
    if rule not in UNIFORM_RULES:
        raise FitError(f"unknown rule '{rule}' for a uniform fit; known: {', '.join(UNIFORM_RULES)}")
    dp = datapath(func, fmt, **over)
    x = dp.x
    if entries < 2 or entries & (entries - 1) or entries > min(1 << x.bits, 256):
        raise FitError(f"uniform entries {entries}: use a power of two 2..{min(1 << x.bits, 256)}")
    lo, hi = rng_range if rng_range else func.range
    prob = Problem(func, lo, hi, dp, 1)
    seg = uniform_model.segment(prob.q, x, entries)
    s_lo, s_hi = int(seg[0]), int(seg[-1])
    bounds = np.array(uniform_boundaries(x, entries), np.int64)
    # the segments the domain touches, as an ordinary breakpoint table on the
    # Problem: every inner boundary lies in (qlo, qhi], every segment holds codes
    inner = bounds[s_lo:s_hi][None, :]
    if rule == "exact":
        from fitter.exact import best_lines
        Ki, Ci = best_lines(prob, inner, objective)
    else:
        Ki, Ci = prob.coeffs(inner, rule, objective)
    Ki, Ci = np.asarray(Ki, np.int64)[0], np.asarray(Ci, np.int64)[0]
    # segments outside the range: the nearest fitted segment's line
    pick = np.clip(np.arange(entries), s_lo, s_hi) - s_lo
    K, C = Ki[pick], Ci[pick]
    metrics = prob.metrics(inner[0], Ki, Ci)
    spec = Spec(func.name, entries, x, tuple(int(b) for b in bounds),
                Coeffs(dp.k, tuple(int(v) for v in K)), Coeffs(dp.c, tuple(int(v) for v in C)), dp.y,
                {"method": "uniform-segments", "impl": "uniform", "range": [float(lo), float(hi)],
                 "objective": objective, "rule": rule,
                 "domain": ("sampled %d codes" % len(prob.q)) if prob.sampled else "all codes",
                 "segments_outside_range": "line of the nearest segment inside the range",
                 "metrics": metrics},
                impl="uniform")
    # the metrics' scoring (comparator-bank model on the inner table) and the
    # uniform golden model must agree on every domain code
    want = prob.hw_out(inner, Ki[None, :], Ci[None, :])[0]
    if not np.array_equal(uniform_model.evaluate(spec, prob.q), want):
        raise AssertionError("uniform golden model disagrees with the Problem's scoring")
    return spec
