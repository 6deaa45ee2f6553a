"""Exact minimax lines: the best integer line of a run of codes under max error.

For any width whose accumulator fits a float64 exactly (int8..int16),
:func:`line_within` decides *exactly* whether some integer
(K, C) of the coefficient formats keeps the golden-model output (rounding
and saturation included) within B output LSBs of f at every code of a run
(per code, the allowed outputs bound the accumulator ``K * a + C * 2^s_c``;
the width of the feasible intercept interval is concave in K, so its
maximum is found by grid refinement and the integer K around it are
checked). :func:`minimax_line` bisects B over the errors a code can take
and so returns the globally minimax line of a run, over *every* (K, C);
:func:`fitter.exact.best_lines` uses it for ``maxerr``; :func:`fewest_segments` is the
greedy (each segment as long as a line within B exists) that gives the
fewest segments of any table within B -- feasibility of a run is inherited
by its sub-runs, so the greedy is optimal (``fitter/minimal.py``).

The DP of ``fitter/exact.py`` (method ``exact``, objective ``maxerr``)
calls :func:`minimax_line` through :func:`fitter.exact.best_lines`, and
:func:`rule_lines` (the GA's own two lines of a run) is in both candidate
sets; ``fitter/minimal.py`` (``--max-err-lsb``) uses
:func:`fewest_segments`, :func:`minimax_line` and :func:`unreachable`. This
module imports neither of them.
"""

from __future__ import annotations

import numpy as np

from fitter.problem import FitError, Problem
from hw.pwl_int.model import pwl_int

#: line_within: runs longer than 4x this are first searched on this many of their codes.
SUBSAMPLE = 64


def rule_lines(prob: Problem, I: np.ndarray, J: np.ndarray, objective: str):
    """(K, C), (S, 2) each: the GA's two rules (Problem.coeffs with rule lsq
    and chord) for the runs q[I:J], each computed on a table in which that
    run is segment 1."""
    M, q = len(prob.q), prob.q
    K = np.empty((len(I), 2), np.int64)
    C = np.empty((len(I), 2), np.int64)
    for last in (False, True):
        sel = (J == M) if last else (J < M)
        if not sel.any():
            continue
        if last:        # one breakpoint: segment 1 runs to the domain's end (chord's right end x[-1])
            bps = q[I[sel]][:, None]
        else:           # two breakpoints: segment 1 is q[i:j]; for i = 0 segment 0 is empty
            bps = np.stack([q[I[sel]], q[J[sel]]], axis=1)
        for r, rule in enumerate(("lsq", "chord")):
            k, c = prob.coeffs(bps, rule, objective)
            K[sel, r], C[sel, r] = k[:, 1], c[:, 1]
    return K, C


def float_exact(dp) -> bool:
    """Whether every accumulator value of ``dp`` is an integer float64 holds
    exactly (the feasibility arithmetic below is float64): int8..int16."""
    return dp.rnd_bits <= 52


def _nearest_in(T, bound, side):
    """Per target T (output LSBs), the least (side -1) or greatest (side +1)
    integer y with ``|y - T| <= bound`` evaluated exactly as the metrics do
    (float64 ``abs(y - T)``); not clipped to the output format."""
    y = np.ceil(T - bound) if side < 0 else np.floor(T + bound)
    y = np.where(np.abs(y + side - T) <= bound, y + side, y)      # float rounding, one step either way
    return np.where(np.abs(y - T) > bound, y - side, y)


def _acc_window(prob: Problem, T, bound):
    """Per code with target ``T`` (output LSBs): the accumulator values whose
    output (round half up, saturated: the golden model) is within ``bound``
    LSB of T, as (lo, hi) floats (+-inf where saturation frees a side); None
    if some code has no output within ``bound``."""
    y, s = prob.dp.y, prob.dp.out_shift
    lo = np.maximum(_nearest_in(T, bound, -1), y.min_code)
    hi = np.minimum(_nearest_in(T, bound, +1), y.max_code)
    if (lo > hi).any():
        return None
    ylo = np.where(lo <= y.min_code, -np.inf, lo)        # below min_code saturates to it: allowed
    yhi = np.where(hi >= y.max_code, np.inf, hi)
    if s > 0:                   # y = floor((acc + 2^(s-1)) / 2^s)
        return ylo * 2.0 ** s - 2.0 ** (s - 1), (yhi + 1) * 2.0 ** s - 2.0 ** (s - 1) - 1
    return np.ceil(ylo * 2.0 ** s), np.floor(yhi * 2.0 ** s)    # y = acc << -s


def line_within(prob: Problem, i: int, j: int, bound: float, grid: int = 16, _win=None):
    """An integer line (K, C) of the coefficient formats whose golden-model
    output is within ``bound`` output LSBs of f at every code of q[i:j]
    (errors as the ``max_err_lsb`` metric measures them), or None when no
    (K, C) of the formats has that property: an exact decision.

    Per code the allowed outputs bound the accumulator, lo <= K a + C b <= hi
    (a = q 2^shift_prod, b = 2^shift_c); for a slope K the intercepts form
    the interval [max (lo - K a) / b, min (hi - K a) / b] clipped to the
    intercept format, whose width is concave in K. Its maximum over the slope
    codes is found by grid refinement (exact for a concave function; for a
    long run first on a subset of its codes, whose feasible slopes contain
    the run's); the slopes where the width is >= 0 (an interval) are then
    checked, nearest the maximum first, for an integer intercept. float64
    arithmetic, exact while :func:`float_exact`."""
    dp = prob.dp
    if not float_exact(dp):
        raise FitError(f"line_within: the {dp.x.label()} datapath's accumulator exceeds float64's exact "
                       f"integers (formats up to int16)")
    if _win is None:
        _win = _acc_window(prob, prob.t[i:j] * 2.0 ** dp.y.frac, bound)
        if _win is None:
            return None
        lo, hi = _win
    else:
        lo, hi = _win[0][i:j], _win[1][i:j]
    a = prob.q[i:j] * 2.0 ** dp.shift_prod
    b = 2.0 ** dp.shift_c
    cmin, cmax = float(dp.c.min_code), float(dp.c.max_code)
    every = slice(None)

    def interval(Ks, sel=every):
        t = Ks[:, None] * a[sel]
        return (np.maximum((lo[sel] - t).max(axis=1) / b, cmin),
                np.minimum((hi[sel] - t).min(axis=1) / b, cmax))

    def widest(k0, k1, sel=every):
        """The slope codes around the widest intercept interval (grid refinement)."""
        while k1 - k0 + 1 > grid:
            Ks = np.unique(np.round(np.linspace(k0, k1, grid)))
            cl, cu = interval(Ks, sel)
            m = int(np.argmax(cu - cl))
            k0, k1 = int(Ks[max(m - 1, 0)]), int(Ks[min(m + 1, len(Ks) - 1)])
        Ks = np.arange(k0, k1 + 1, dtype=np.float64)
        cl, cu = interval(Ks, sel)
        return Ks, cl, cu, int(np.argmax(cu - cl))

    def edge(k_in, k_out, sel):
        """From k_in (the widest slope, width >= 0) towards k_out: the farthest
        code with width >= 0 (the width only shrinks on the way)."""
        d = 1 if k_out >= k_in else -1
        while abs(k_out - k_in) + 1 > grid:
            Ks = np.unique(np.round(np.linspace(k_in, k_out, grid)))[::d]       # ordered from k_in
            cl, cu = interval(Ks, sel)
            neg = np.nonzero(cu - cl < 0)[0]
            if len(neg) == 0:
                return k_out
            k_in, k_out = int(Ks[neg[0] - 1]), int(Ks[neg[0]]) - d
            if (k_out - k_in) * d < 0:          # nothing between the last >= 0 and the first < 0
                return k_in
        Ks = np.arange(k_in, k_out + d, d, dtype=np.float64)
        cl, cu = interval(Ks, sel)
        return int(Ks[np.nonzero(cu - cl >= 0)[0].max()])

    k0, k1 = dp.k.min_code, dp.k.max_code
    if len(a) > 4 * SUBSAMPLE:
        # a subset of the codes first: its feasible slopes hold the run's (fewer constraints,
        # a wider intercept interval at every slope), and it is cheap to search
        sel = np.unique(np.round(np.linspace(0, len(a) - 1, SUBSAMPLE)).astype(np.int64))
        Ks, cl, cu, m = widest(k0, k1, sel)
        if cu[m] - cl[m] < 0:
            return None
        k0, k1 = edge(int(Ks[m]), k0, sel), edge(int(Ks[m]), k1, sel)
    Ks, cl, cu, m = widest(k0, k1)
    if cu[m] - cl[m] < 0:
        return None
    centre = int(Ks[m])

    def pick(Ks, cl, cu):
        ok = np.ceil(cl) <= np.floor(cu)
        if not ok.any():
            return None
        w = np.nonzero(ok)[0]
        w = int(w[np.argmin(np.abs(Ks[w] - centre))])
        C = min(max(np.floor((cl[w] + cu[w]) / 2 + 0.5), np.ceil(cl[w])), np.floor(cu[w]))
        return int(Ks[w]), int(C)

    got = pick(Ks, cl, cu)
    if got is not None:
        return got
    # no integer intercept next to the widest slope: scan every slope where the width is >= 0
    # (an interval, the width being concave), nearest the widest first
    e0, e1 = edge(centre, k0, every), edge(centre, k1, every)
    order = np.arange(e0, e1 + 1, dtype=np.float64)
    order = order[np.argsort(np.abs(order - centre), kind="stable")]
    step = max(1, (1 << 20) // max(len(a), 1))
    for c0 in range(0, len(order), step):
        Kw = order[c0:c0 + step]
        got = pick(Kw, *interval(Kw))
        if got is not None:
            return got
    return None


def _line_err(prob: Problem, i: int, j: int, K: int, C: int) -> float:
    """Max error (output LSBs, golden model) of the line (K, C) over q[i:j]."""
    y = pwl_int(prob.q[i:j], np.zeros(0, np.int64), np.array([K]), np.array([C]), prob.dp)
    return float(np.abs(y - prob.t[i:j] * 2.0 ** prob.dp.y.frac).max())


def minimax_line(prob: Problem, i: int, j: int, upper: float | None = None):
    """The integer line of the coefficient formats with the least max error
    (output LSBs, golden model) over the codes q[i:j], over *every* (K, C):
    returns (K, C, max error). The optimum is one of the errors |y - T| a
    code can take, so: start from a known line (the GA's lsq / chord, or
    ``upper`` if some line is known to reach it), bisect the bound with
    :func:`line_within` until the interval is under half an LSB, then
    binary-search the (at most two per code) candidate errors left in it."""
    dp = prob.dp
    T = prob.t[i:j] * 2.0 ** dp.y.frac
    if upper is None:
        Kr, Cr = rule_lines(prob, np.array([i]), np.array([j]), "hw")
        upper = min(_line_err(prob, i, j, int(k), int(c)) for k, c in zip(Kr[0], Cr[0]))
    ymin, ymax = dp.y.min_code, dp.y.max_code
    best = np.minimum(np.abs(np.clip(np.floor(T), ymin, ymax) - T), np.abs(np.clip(np.ceil(T), ymin, ymax) - T))
    lo = float(best.max())                  # no table does better at its hardest code
    found = line_within(prob, i, j, lo)
    if found is not None:
        return found[0], found[1], _line_err(prob, i, j, *found)
    hi = float(upper)
    found = line_within(prob, i, j, hi)
    if found is None:
        raise FitError(f"minimax_line: no line within the upper bound {hi} (an upper bound must be reachable)")
    while hi - lo > 0.5:                    # infeasible at lo, feasible at hi
        mid = (lo + hi) / 2
        got = line_within(prob, i, j, mid)
        if got is None:
            lo = mid
        else:
            hi, found = mid, got
    # the optimum is an error some code can take in (lo, hi]: at most one
    # output on each side of T per code, since hi - lo <= 1/2
    cands = []
    for side in (-1, 1):
        y = np.clip(_nearest_in(T, hi, side), ymin, ymax)
        e = np.abs(y - T)
        cands.append(e[(e > lo) & (e <= hi)])
    vals = np.unique(np.concatenate(cands + [np.array([hi])]))
    a, b = 0, len(vals) - 1                 # vals[b] feasible (hi)
    found_b = found
    while a < b:
        m = (a + b) // 2
        got = line_within(prob, i, j, float(vals[m]))
        if got is None:
            a = m + 1
        else:
            b, found_b = m, got
    K, C = found_b
    return K, C, _line_err(prob, i, j, K, C)


def unreachable(prob: Problem, bound: float) -> np.ndarray:
    """Indices into ``prob.q`` of the codes where no line at all can be within
    ``bound`` LSB: no output within ``bound`` of f, or none the accumulator
    can reach -- ``K a + C b`` is a multiple of gcd(a, b) (a = q 2^shift_prod,
    b = 2^shift_c), so the allowed accumulator interval must hold one (a
    necessary condition: a fast reject before any search)."""
    dp = prob.dp
    win = _acc_window(prob, prob.t * 2.0 ** dp.y.frac, bound)
    if win is None:
        y = dp.y
        T = prob.t * 2.0 ** y.frac
        lo = np.maximum(_nearest_in(T, bound, -1), y.min_code)
        return np.nonzero(lo > np.minimum(_nearest_in(T, bound, +1), y.max_code))[0]
    lo, hi = win
    g = np.gcd(prob.q << dp.shift_prod, np.int64(1) << dp.shift_c).astype(np.float64)
    with np.errstate(invalid="ignore"):
        ok = ~np.isfinite(hi) | ~np.isfinite(lo) | (np.floor(hi / g) * g >= lo)
    return np.nonzero(~ok)[0]


def _last_feasible(test, L: int, guess: int):
    """The largest k < L with ``test(k)`` not None, where that holds on a
    prefix of 0..L-1 only: galloping from ``guess`` (up or down), then
    bisection. Returns (k, test(k)), or (-1, None)."""
    k = min(max(guess, 0), L - 1)
    got = test(k)
    gap = 1
    if got is not None:
        good, line, bad = k, got, L
        while good < L - 1:
            k = min(good + gap, L - 1)
            got = test(k)
            if got is None:
                bad = k
                break
            good, line = k, got
            gap *= 2
    else:
        good, line, bad = -1, None, k
        while bad > 0:
            k = max(bad - gap, 0)
            got = test(k)
            if got is not None:
                good, line = k, got
                break
            bad = k
            gap *= 2
    while bad - good > 1:
        k = (good + bad) // 2
        got = test(k)
        if got is None:
            bad = k
        else:
            good, line = k, got
    return good, line


def fewest_segments(prob: Problem, bound: float, max_segments: int = 256, step: int = 1):
    """The fewest segments of any PWL table (breakpoints on input codes, the
    golden model's arithmetic, every integer (K, C) of the formats) whose
    max error over the domain is <= ``bound`` output LSBs: greedy, each
    segment as long as :func:`line_within` finds a line for it (galloping
    from the previous segment's length, then bisection on its end). Feasibility is inherited by sub-runs, so the
    greedy's k-th segment ends no earlier than any other valid table's k-th:
    its count is the minimum. ``step`` > 1 puts breakpoints on codes that are
    multiples of ``step`` only (e.g. the int8 grid of a wide format).

    Returns (starts, K, C, need): starts (n+1,) indices into ``prob.q``
    (segment s holds q[starts[s]:starts[s+1]]), one witness line per segment,
    and ``need`` = n; or (None, None, None, need) when no table of at most
    ``max_segments`` segments exists (need = max_segments + 1), or need = None
    when no table at all does (some code, or with ``step`` > 1 some shortest
    run of the grid, has no line within ``bound``)."""
    dp = prob.dp
    M = len(prob.q)
    win = _acc_window(prob, prob.t * 2.0 ** dp.y.frac, bound)
    if win is None or len(unreachable(prob, bound)):
        return None, None, None, None
    ends = np.arange(1, M + 1)
    if step > 1:
        ends = ends[(ends == M) | (prob.q[np.minimum(ends, M - 1)] % step == 0)]
    starts, Ks, Cs = [0], [], []
    i, last = 0, max(1, M // 16)
    while i < M:
        if len(Ks) == max_segments:
            return None, None, None, max_segments + 1
        cand = ends[ends > i]
        k, line = _last_feasible(lambda k: line_within(prob, i, int(cand[k]), bound, _win=win),
                                 len(cand), int(np.searchsorted(cand, i + last)))
        if line is None:            # not even the shortest segment the breakpoint grid allows
            return None, None, None, None
        last = int(cand[k]) - i     # the next segment's first guess: as long as this one
        i = int(cand[k])
        starts.append(i)
        Ks.append(line[0])
        Cs.append(line[1])
    return np.array(starts, np.int64), np.array(Ks, np.int64), np.array(Cs, np.int64), len(Ks)
