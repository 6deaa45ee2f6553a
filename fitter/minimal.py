"""The fewest table entries that meet a max-error bound (issue 13).

:func:`fewest_entries` returns the smallest table of an implementation
whose ``max_err_lsb`` is at most ``bound_lsb``, **certified** by
:func:`certify`: the implementation's golden model (``hw.pwl_int.model`` /
``hw.uniform.model``) evaluated on every input code of the domain, the same
domain the metrics use (DESIGN.md, "Accuracy metrics"): every code ``q`` of
the input format with ``lo <= q * 2^-f_x <= hi``, ``[lo, hi]`` the op's
fitting range (or ``rng_range``). Codes of the input format outside the range
are not checked, as the metrics do not check them. Domains of more than
65,537 codes (int32) cannot be certified code by code and are refused.

How the entries are searched:

* ``impl="pwl", method="exact"`` (objective ``maxerr``): **exact, no search
  over entries.** :func:`fitter.minimax.fewest_segments` decides for each run
  of codes whether *any* integer line (K, C) of the coefficient formats keeps
  the golden-model output within the bound on the whole run (rounding and
  saturation included), and the greedy (each segment as long as possible)
  gives the fewest segments of any table with breakpoints on input codes --
  feasibility is inherited by sub-runs, so no table with one entry fewer
  meets the bound (``tried`` records it as failing, "by the greedy's
  optimality"). The table's lines are then each segment's minimax line over
  every (K, C) (:func:`fitter.minimax.minimax_line`). At int8 (domains of at
  most 512 codes) the exact ``maxerr`` DP (:func:`fitter.exact.fit_exact`)
  also runs at that number of entries and its table is kept where its max
  error is lower (its segments are balanced; the greedy's last ones are
  short); its per-entries curve goes into ``tried``. Works to int16 (the
  accumulator must be exact in float64); the DP itself is limited to 9-bit
  inputs (all M(M+1)/2 runs: 2^31 runs at 16 bits), so int10..int16 rely on
  the greedy. ``int8_breakpoints=True`` puts the breakpoints on the int8
  grid (codes that are multiples of 2^(bits-8)), as ``fitter.fit`` keeps
  them for wide formats; the count is then the fewest on that grid.
* ``impl="pwl", method="ga" | "uniform"`` (``fitter.fit``'s methods, any
  objective; wide formats take the int8 breakpoints as ``fit`` does): a
  search over entries, doubling 1, 2, 4, ... up to the first table that
  meets the bound, then bisection between the last failure and that
  success. The max error is not monotone in the entries for these methods;
  the result is the smallest success among the sizes tried, and its
  predecessor (entries - 1) was tried and failed -- a smaller size below an
  earlier failure is not excluded.
* ``impl="uniform"``: entries are the powers of two 2, 4, ... (at most 256
  and 2^input bits); every one up to the first success is tried, so the
  result is the smallest power of two that meets the bound. With
  ``method="exact"`` each segment's line is its minimax line over every
  (K, C) (``fit_uniform(rule="exact", objective="maxerr")``): segments of a
  uniform table do not interact, so each tried size's max error is the
  least any table of those segments has. Other methods name a
  ``fit_uniform`` rule (``lsq``, ``auto``, ``chord``) under ``objective``.

``python -m fitter.minimal`` prints the fewest pwl and uniform entries of
every op at int8, int10, int12 and int16 for a bound of 1 LSB.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np

from fitter import functions
from fitter.exact import MAX_EXACT_CODES, fit_exact, minimax_curve, segment_costs
from fitter.fit import WIDEN, datapath, fit
from fitter.ga import GAConfig
from fitter.impls import fit_uniform
from fitter.minimax import fewest_segments, float_exact, minimax_line, unreachable
from fitter.problem import OBJECTIVES, FitError, Problem
from hw import impls
from hw.spec import Coeffs, Spec

#: Largest domain :func:`certify` evaluates code by code (the metrics' own limit).
MAX_CERTIFY_CODES = (1 << 16) + 1

OPTIMALITY = ("fewest entries: exact over every table with breakpoints on {grid} and every integer slope and "
              "intercept of the formats (greedy segmentation with an exact per-segment decision, "
              "fitter.minimax.fewest_segments); lines: each segment's minimax line over every (K, C) "
              "(fitter.minimax.minimax_line){dp}")


class BoundNotMet(FitError):
    """No table of the implementation meets the bound. ``tried`` records the
    search (as :func:`fewest_entries` returns it)."""

    def __init__(self, message: str, tried: list):
        super().__init__(message)
        self.tried = tried


def _func(op) -> functions.Function:
    return op if isinstance(op, functions.Function) else functions.get(op)


def certify(spec: Spec, bound_lsb: float, rng_range: tuple | None = None) -> dict:
    """Certificate of ``max_err_lsb <= bound_lsb`` for an integer spec of a
    registry op, any implementation: its golden model (:func:`hw.impls.evaluate`) on every input code of the domain -- the codes of
    the input format inside ``rng_range`` (default ``spec.fit["range"]``,
    else the op's range) -- against the float64 reference, errors
    ``|y - f(q 2^-f_x) 2^f_y|`` in output LSBs as the metrics define them.

    Returns {"certified": bool, "max_err_lsb", "worst_input", "worst_code",
    "bound_lsb", "codes", "domain"}."""
    if spec.is_fp32:
        raise FitError(f"certify: integer specs only, not {spec.impl} {spec.format_name}")
    func = _func(spec.op)
    lo, hi = rng_range or spec.fit.get("range") or func.range
    x, y = spec.input, spec.output
    qlo = max(x.min_code, int(np.ceil(lo * 2.0 ** x.frac)))
    qhi = min(x.max_code, int(np.floor(hi * 2.0 ** x.frac)))
    if qhi < qlo:
        raise FitError(f"certify: the range [{lo}, {hi}] holds no code of {x.label()}")
    if qhi - qlo + 1 > MAX_CERTIFY_CODES:
        raise FitError(f"certify: {qhi - qlo + 1} codes in the domain; at most {MAX_CERTIFY_CODES} are "
                       f"evaluated code by code (formats up to int16)")
    q = np.arange(qlo, qhi + 1, dtype=np.int64)
    out = impls.evaluate(spec, q)            # the implementation's golden model
    err = np.abs(out - func(x.to_real(q)) * 2.0 ** y.frac)
    w = int(np.argmax(err))
    return {"certified": bool(err[w] <= bound_lsb), "max_err_lsb": float(err[w]),
            "worst_input": float(x.to_real(q[w])), "worst_code": int(q[w]), "bound_lsb": float(bound_lsb),
            "codes": int(len(q)), "domain": f"every code of {x.label()} in [{lo}, {hi}]: {qlo}..{qhi}"}


def _certified(spec: Spec, bound: float, rng: tuple) -> dict:
    cert = certify(spec, bound, rng)
    if not cert["certified"]:           # the searches guarantee it: a failure here is a bug
        raise AssertionError(f"{spec.op}: table of {spec.entries} entries fails its certificate: {cert}")
    return cert


def _unreachable_message(prob: Problem, bound: float, bad) -> str:
    i = int(bad[0])
    dp = prob.dp
    g = int(np.gcd(int(prob.q[i]) << dp.shift_prod, 1 << dp.shift_c))
    step = g * 2.0 ** -dp.out_shift
    why = (f"the accumulator there is a multiple of {g} (slope step x input code, intercept step), so the "
           f"reachable outputs are {step:g} LSB apart") if step > 1 else "no output code is close enough"
    return (f"no table with these formats meets {bound} LSB: at x = {float(prob.x[i])} (code {int(prob.q[i])}, "
            f"f = {float(prob.t[i]) * 2.0 ** dp.y.frac:.4f} LSB) {why}; {len(bad)} such code(s)")


def _pwl_spec(func, prob: Problem, bps, K, C, fitinfo: dict) -> Spec:
    dp = prob.dp
    return Spec(func.name, len(K), dp.x, tuple(int(b) for b in bps), Coeffs(dp.k, tuple(int(v) for v in K)),
                Coeffs(dp.c, tuple(int(v) for v in C)), dp.y, fitinfo)


def _fewest_pwl_exact(func, fmt, bound, rng, max_entries, int8_breakpoints, over):
    lo, hi = rng
    prob = Problem(func, lo, hi, datapath(func, fmt, **over), 1)
    if prob.sampled or not float_exact(prob.dp):
        raise FitError(f"fewest_entries: method exact certifies every code and needs an accumulator exact "
                       f"in float64: formats up to int16, not {fmt} ({prob.dp.x.label()})")
    tried = []
    bad = unreachable(prob, bound)
    if len(bad):
        raise BoundNotMet(_unreachable_message(prob, bound, bad), tried)
    step = 1 << WIDEN[fmt] if int8_breakpoints else 1
    starts, _, _, need = fewest_segments(prob, bound, max_entries, step)
    if starts is None:
        what = (f"more than {max_entries} entries" if need else
                "no number of entries (a shortest segment of the breakpoint grid has no line within it)")
        tried.append({"entries": max_entries, "meets": False, "max_err_lsb": None,
                      "how": f"greedy: {what}"})
        raise BoundNotMet(f"{func.name} {fmt}: no pwl table meets {bound} LSB with at most {max_entries} "
                          f"entries ({what})", tried)
    n = len(starts) - 1
    lines = [minimax_line(prob, int(i), int(j), upper=bound) for i, j in zip(starts[:-1], starts[1:])]
    K = np.array([k for k, _, _ in lines], np.int64)
    C = np.array([c for _, c, _ in lines], np.int64)
    bps = prob.q[starts[1:-1]]
    how = "greedy segmentation, minimax line per segment"
    tried.append({"entries": n, "meets": True, "max_err_lsb": float(max(e for *_, e in lines)), "how": how})
    tried.append({"entries": n - 1, "meets": False, "max_err_lsb": None,
                  "how": "greedy: no table with fewer entries meets the bound (the greedy count is the least)"})
    dp_note = ""
    if len(prob.q) <= MAX_EXACT_CODES and step == 1:
        costs = segment_costs(prob, "maxerr")
        curve = minimax_curve(prob, n, costs)
        for k, e in enumerate(curve, 1):
            tried.append({"entries": k, "meets": bool(e <= bound), "max_err_lsb": float(e),
                          "how": "exact maxerr DP (candidate lines)"})
        if curve[-1] <= bound:
            res = fit_exact(Problem(func, lo, hi, prob.dp, n), "maxerr", costs=costs)
            K2, C2 = K.copy(), C.copy()
            b = np.concatenate([[0], np.searchsorted(prob.q, res.bps), [len(prob.q)]])
            for s in range(n):          # each DP segment's line: its global minimax line
                K2[s], C2[s], _ = minimax_line(prob, int(b[s]), int(b[s + 1]), upper=float(curve[-1]))
            m1, m2 = prob.metrics(bps, K, C), prob.metrics(res.bps, K2, C2)
            if (m2["max_err_lsb"], m2["mse_hw"]) < (m1["max_err_lsb"], m1["mse_hw"]):
                bps, K, C, how = res.bps, K2, C2, "exact maxerr DP segmentation, minimax line per segment"
                dp_note = "; breakpoints: the exact maxerr DP's at that count (lower max error than the greedy's)"
    metrics = prob.metrics(bps, K, C)
    grid = "the int8 grid" if step > 1 else "input codes"
    info = {"method": "exact", "objective": "maxerr", "rule": "minimax", "range": [float(lo), float(hi)],
            "domain": "all codes", "metrics": metrics,
            "exact": {"optimality": OPTIMALITY.format(grid=grid, dp=dp_note)}}
    if fmt != "int8" and step > 1:
        info["breakpoints_from"] = f"int8 grid (codes multiple of {step}), chosen at {fmt}"
    return _pwl_spec(func, prob, bps, K, C, info), tried, how


def _search(trial, lo: int, hi: int):
    """Doubling from ``lo`` then bisection: the smallest success seen and the
    record. ``trial(n)`` -> (spec, max error, meets)."""
    tried, seen = [], {}

    def run(n):
        if n not in seen:
            spec, err, ok = trial(n)
            seen[n] = (spec, ok)
            tried.append({"entries": n, "meets": bool(ok), "max_err_lsb": float(err), "how": "fit"})
        return seen[n][1]

    fail, n = lo - 1, lo
    while not run(n):
        fail = n
        if n >= hi:
            return None, tried
        n = min(2 * n, hi)
    ok = n
    while ok - fail > 1:
        mid = (ok + fail) // 2
        if run(mid):
            ok = mid
        else:
            fail = mid
    return seen[ok][0], tried


def _search_pwl(func, fmt, bound_lsb, rng, max_entries, method, objective, int8_breakpoints, seed, ga, over):
    """pwl: the exact greedy (method exact) or a search over entries with ``fitter.fit``'s methods."""
    if method == "exact":
        if objective != "maxerr":
            raise FitError("fewest_entries: method exact searches max_err_lsb itself: use objective 'maxerr'")
        return _fewest_pwl_exact(func, fmt, bound_lsb, rng, max_entries, int8_breakpoints, over)
    if method not in ("ga", "uniform"):
        raise FitError(f"unknown method '{method}' for a pwl search; known: exact, ga, uniform")
    cfg = replace(ga or GAConfig(quiet=True), objective=objective)

    def trial(n):
        spec, _ = fit(func, n, fmt, seed, method, rng, cfg, **over)
        e = spec.fit["metrics"]["max_err_lsb"]
        return spec, e, e <= bound_lsb

    return (*_search(trial, 1, max_entries), None)


def _search_uniform(func, fmt, bound_lsb, rng, max_entries, method, objective, int8_breakpoints, seed, ga, over):
    """uniform: every power of two up to the first that meets the bound."""
    rule = "exact" if method == "exact" else method
    if rule == "exact" and objective != "maxerr":
        raise FitError("fewest_entries: uniform with method exact takes minimax lines: use objective 'maxerr'")
    dp = datapath(func, fmt, **over)
    top = min(max_entries, 1 << dp.x.bits)
    tried, spec = [], None
    prob = Problem(func, *rng, dp, 1)
    if float_exact(dp) and not prob.sampled:
        bad = unreachable(prob, bound_lsb)
        if len(bad):                # no line at all reaches some code: no table of any size
            raise BoundNotMet(_unreachable_message(prob, bound_lsb, bad), tried)
    n = 2
    while n <= top:
        s = fit_uniform(func, n, fmt, rule, objective, rng, **over)
        e = s.fit["metrics"]["max_err_lsb"]
        tried.append({"entries": n, "meets": bool(e <= bound_lsb), "max_err_lsb": float(e),
                      "how": f"fit_uniform rule {rule}" + (" (exact per segment)" if rule == "exact" else "")})
        if e <= bound_lsb:
            spec = s
            break
        n *= 2
    return spec, tried, None


#: the searches by implementation (impl -> (func, fmt, bound, range, max_entries, method, objective,
#: int8_breakpoints, seed, ga, format options) -> (spec or None, tried, how)); the other implementations
#: take no entry search (a table meets 0.5 LSB by itself; a poly fit takes the bound itself, fitter/poly.py)
SEARCHES = {"pwl": _search_pwl, "uniform": _search_uniform}


def fewest_entries(op, fmt: str = "int8", bound_lsb: float = 1.0, impl: str = "pwl", method: str = "exact",
                   objective: str = "maxerr", rng_range: tuple | None = None, max_entries: int = 256,
                   int8_breakpoints: bool = False, seed: int = 0, ga: GAConfig | None = None,
                   **over) -> tuple[Spec, list]:
    """The fewest entries of ``impl`` (pwl or uniform) for ``op`` at ``fmt``
    whose table has ``max_err_lsb <= bound_lsb`` on the domain (see the
    module doc for the search and what is exact). ``over``: the format
    options of :func:`fitter.fit.datapath` (in_bits, out_frac, ...).

    Returns (spec, tried): the spec (``fit["metrics"]`` as every fit, plus
    ``fit["minimal"]``: the bound, the certificate and ``tried``), and
    ``tried``, one dict per size examined: {"entries", "meets",
    "max_err_lsb" (None where not computed), "how"}. Raises
    :class:`BoundNotMet` (a FitError, with ``.tried``) when no table of at
    most ``max_entries`` entries meets the bound."""
    func = _func(op)
    if fmt not in WIDEN:
        raise FitError(f"unknown format '{fmt}' for an integer fit; known: {', '.join(WIDEN)}")
    if objective not in OBJECTIVES:
        raise FitError(f"unknown objective '{objective}'; known: {', '.join(OBJECTIVES)}")
    if not bound_lsb > 0:
        raise FitError(f"max_err_lsb bound {bound_lsb}: must be > 0")
    rng = tuple(rng_range) if rng_range else func.range
    max_entries = min(max_entries, 256)
    if impl not in SEARCHES:
        raise FitError(f"fewest_entries: impl '{impl}': use {' or '.join(SEARCHES)} (a table meets 0.5 LSB by "
                       "itself; a poly fit takes the bound itself)")
    spec, tried, how = SEARCHES[impl](func, fmt, bound_lsb, rng, max_entries, method, objective, int8_breakpoints,
                                      seed, ga, over)
    if spec is None:
        raise BoundNotMet(f"{func.name} {fmt}: no {impl} table ({method}) of at most {max_entries} entries meets "
                          f"{bound_lsb} LSB", tried)
    cert = _certified(spec, bound_lsb, rng)
    # no timing in the spec: the same request gives the same spec, byte for byte
    spec.fit["minimal"] = {"bound_lsb": float(bound_lsb), "entries": spec.entries, "impl": impl,
                           "method": method, "table": how or "fit", "certificate": cert, "tried": tried}
    return spec, tried


# -- the table of issue 13 -----------------------------------------------------------

def _cell(fn):
    t = time.perf_counter()
    try:
        spec, _ = fn()
        return f"{spec.entries} ({spec.fit['metrics']['max_err_lsb']:.3f})", time.perf_counter() - t
    except BoundNotMet as e:
        return "none" + ("" if e.tried else "*"), time.perf_counter() - t


def main(argv=None) -> int:
    """Print the fewest pwl (method exact) and uniform entries of every op
    for a bound (default 1 LSB) at int8, int10, int12, int16 (those in WIDEN)."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m fitter.minimal", description=main.__doc__)
    ap.add_argument("--bound", type=float, default=1.0, help="max_err_lsb bound (output LSBs)")
    ap.add_argument("--formats", default=",".join(f for f in ("int8", "int10", "int12", "int16") if f in WIDEN))
    ap.add_argument("--ops", default=",".join(functions.FUNCTIONS))
    a = ap.parse_args(argv)
    fmts = a.formats.split(",")
    print(f"fewest entries with max_err_lsb <= {a.bound} (certified by the golden model on every code of the "
          f"range); cell: entries (max err LSB), seconds")
    print(f"{'op':<11}{'format':<8}{'pwl (exact)':<18}{'s':>7}  {'uniform (exact lines)':<22}{'s':>7}")
    total = time.perf_counter()
    for op in a.ops.split(","):
        for fmt in fmts:
            p, tp = _cell(lambda: fewest_entries(op, fmt, a.bound))
            u, tu = _cell(lambda: fewest_entries(op, fmt, a.bound, impl="uniform"))
            print(f"{op:<11}{fmt:<8}{p:<18}{tp:7.2f}  {u:<22}{tu:7.2f}", flush=True)
    print(f"total {time.perf_counter() - total:.1f} s; none*: no table of any size (some input's reachable "
          f"outputs are all farther than the bound), none: more than 256 entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
