"""Method ``exact``: optimal segmentation of the input codes by dynamic programming.

With an 8-bit input a breakpoint can only sit on one of at most 256 codes,
so the set of tables with N strictly increasing breakpoints is finite. This
module searches it outright instead of sampling it:

1. **Every run of codes is a candidate segment.** For the M codes of the
   domain there are M(M+1)/2 runs ``q[i:j]`` (32 896 for M = 256).
2. **Per segment, the best quantized line of a candidate set W(i, j)**:

   * every slope code K within ``dk(w)`` of the quantized least-squares
     slope K0 of the run, where ``dk(w) = max(DK, ceil(BETA * y_lsb /
     (k_lsb * width)))`` grows as the run gets shorter (a slope step moves
     the line by ``k_lsb * width`` across the run; the window spans slope
     changes worth ``BETA`` output LSBs at the run's far end); every slope
     of the format where least squares leaves the formats (K0 or its
     refitted intercept clipped);
   * for each such K, every intercept code within ``DC`` of the least-squares
     intercept refitted for that K;
   * the two lines the GA's ``auto`` rule chooses from (``Problem.coeffs``
     with rule ``lsq`` and ``chord``, called, not re-implemented).

   All clipped to the coefficient formats. A candidate's cost is its sum of
   squared errors over the run under the objective:

   * ``hw`` (default): through the golden model :func:`hw.pwl_int.model.pwl_int`
     itself (``Problem.sq_errors`` on one-segment tables: output rounding and
     saturation included). Each (K, C) is evaluated once over the whole
     domain and per-run sums come from prefix sums. In an N-entry table a
     code's output is, by the definition of ``pwl_int``, the output of the
     one-segment table (K[seg], C[seg]) at that code, so the DP's cost is the
     table's ``mse_hw`` times M (up to float summation order);
   * ``fp``: the reference protocol (``mse_fp``: dequantized float line on
     ``arange(lo, hi, 0.01)``), through ``Problem.sq_errors(..., "fp")``.
3. **Dynamic programming** over (entries used, end code) picks the N runs
   that partition the domain with the least total cost.

Objective ``maxerr`` (minimax: the table's ``max_err_lsb``). The same
machinery with two changes: a run's cost is its **largest** golden-model
error in output LSBs (a range-maximum table per candidate line instead of
prefix sums; ties between lines broken by the run's sum of squared errors),
and the DP combines segments by **max** instead of sum (then, among the
segmentations reaching that optimum, a second pass of the same DP takes the
least total squared error). The candidate set W(i, j) is the ``hw`` one
(every line above, so a maxerr table's max error never exceeds the hw
table's at the same N) plus, per run, the slopes within the same window
around the run's *quantized Chebyshev slope* (the slope code minimizing the
float error band ``max(t - k x) - min(t - k x)`` over the run, found by
scanning every slope code between the least and greatest secant slope of
neighbouring codes, where the continuous Chebyshev slope lies) and, per
slope, every intercept within :data:`DCM` codes of the band's centre
``(max(t - k x) + min(t - k x)) / 2`` (the minimax intercept before output
rounding), besides the +-DC codes around least squares. Optimal: the least
max error over every segmentation, given these per-run candidate lines.

The exact minimax line of a run (over *every* integer (K, C), not a
candidate set) and the fewest-segments greedy are in ``fitter/minimax.py``:
:func:`best_lines` uses :func:`fitter.minimax.minimax_line` for ``maxerr``,
and the DP's candidate sets include the GA's rule lines
(:func:`fitter.minimax.rule_lines`).

What is optimal, exactly: the table minimizes the objective over *all*
tables with N segments whose breakpoints are input codes in (qlo, qhi]
(every segmentation is considered), **given** that each segment's line is
restricted to its candidate set W(i, j). Since W contains the GA's own
per-segment lines, ``exact`` is never worse than ``ga`` or ``uniform``
under the same objective (up to float summation noise, ~1e-15 relative). It
is the global optimum over every integer (K, C) of the formats whenever
each segment's best line lies inside W, which is not proven in general:
:func:`certify` checks it a posteriori for the chosen breakpoints by
exhaustive search of the whole coefficient space, and the tests check full
optimality by brute force on a small problem.

Inputs: the DP runs over every code, so it is limited to domains of at most
:data:`MAX_EXACT_CODES` codes (inputs up to 9 bits); a wider input is
refused with a :class:`FitError`. ``--format int16`` / ``int32`` work: as
for every method, they keep the int8 table's breakpoints (found exactly on
the int8 grid -- a coarser breakpoint grid than the wide input allows, so
not optimal for the wide format) and :func:`best_lines` re-searches each
segment's line at full width in a small window (+-DK slope codes, +-DC
intercept codes around least squares, plus the GA's lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitter.minimax import float_exact, minimax_line, rule_lines
from fitter.problem import FitError, Problem
from hw.pwl_int.model import pwl_int

#: The DP enumerates every run of codes: at most this many codes (9-bit input).
MAX_EXACT_CODES = 512
#: Least slope window (+- codes around the quantized least-squares slope).
DK = 3
#: Slope window in output LSBs at the far end of the run (see module doc).
BETA = 2.0
#: Intercept window (+- codes around the refitted intercept, per slope).
DC = 16
#: One-segment tables evaluated per call (bounds memory to CHUNK * points floats).
CHUNK = 2048
#: maxerr: intercept window (+- codes) around the centre of the float error band, per slope.
DCM = 4
#: Objectives of the exact fitter (``Problem`` scoring; see the module doc).
OBJECTIVES = ("hw", "fp", "rel", "maxerr")

OPTIMALITY = ("optimal segmentation: every set of N-1 breakpoints on input codes is considered; per "
              "segment the best line among: every slope within max({dk}, {beta} output LSB / (slope LSB * "
              "segment width)) codes of the quantized least-squares slope (every slope where that "
              "slope or its intercept saturates), for each slope every "
              "intercept within {dc} codes of the refitted least-squares intercept, and the GA's lsq "
              "and chord lines. Globally optimal over all integer (K, C) only where these windows hold "
              "each segment's best line (fitter.exact.certify checks a table's lines exhaustively).")

OPTIMALITY_MAXERR = ("minimax segmentation: the least max_err_lsb over every set of N-1 breakpoints on input "
                     "codes (segments combined by max; among the optimal segmentations the least total squared "
                     "error), given per segment the best line (least max error, then least squared error) "
                     "among: the mse candidates (slopes within max({dk}, {beta} output LSB / (slope LSB * "
                     "segment width)) codes of the quantized least-squares slope, intercepts within {dc} codes "
                     "of the refitted least-squares intercept, the GA's lsq and chord lines), the same slope "
                     "window around the segment's quantized Chebyshev slope, and per slope the intercepts "
                     "within {dcm} codes of the centre of the float error band. Optimal over these candidate "
                     "lines, not over every integer (K, C): fitter.minimax.minimax_line gives a segment's "
                     "global minimax line.")


#: The fit block's note for tables whose breakpoints were given (int16/int32 from the int8 fit).
GIVEN_BREAKPOINTS = ("breakpoints given (for int16/int32: the int8 exact fit's, optimal on the int8 grid "
                     "only); each segment's line re-searched at this width by best_lines: the GA's lsq and "
                     "chord lines, slopes +-3 and per slope intercepts +-4 codes around least squares "
                     "(+-1 each where the datapath exceeds 64 bits); objective maxerr: each segment's "
                     "minimax line over every integer (K, C) (fitter.minimax.minimax_line) up to int16")


@dataclass
class ExactResult:
    bps: np.ndarray          # (N-1,) breakpoint codes
    K: np.ndarray            # (N,) slope codes
    C: np.ndarray            # (N,) intercept codes
    cost: float              # minimized objective (mse_hw, mse_fp, ...; maxerr: max_err_lsb)
    info: dict = field(default_factory=dict)


def _check(prob: Problem) -> int:
    M = len(prob.q)
    if prob.sampled or M > MAX_EXACT_CODES:
        raise FitError(
            f"method exact: the input range holds {prob.qhi - prob.qlo + 1} codes of {prob.dp.x.label()}; "
            f"the exact DP enumerates every run of codes and is limited to {MAX_EXACT_CODES} codes "
            f"(inputs up to 9 bits). For 16/32-bit units use --format int16/int32 (the table keeps "
            f"the int8 breakpoints, found exactly, and re-searches the lines at full width), "
            f"or --method ga")
    return M


def _points(prob: Problem, objective: str):
    """Boundaries of the code runs in the objective's point list: run q[i:j]
    scores points b[i]:b[j] (hw: the codes; fp: the 0.01 grid points x with
    x_i <= x < x_j, the first run from lo, the last to hi)."""
    M = len(prob.q)
    if objective != "fp":                   # hw (and any per-code objective of Problem.sq_errors)
        return np.arange(M + 1), M
    b = np.searchsorted(prob.xf, prob.x, side="left")
    b[0] = 0
    return np.concatenate([b, [len(prob.xf)]]), len(prob.xf)


def _lsq(prob: Problem, I, J):
    """Least-squares sums and the quantized slope K0 of the runs q[I:J]."""
    x, t = prob.x, prob.t
    pre = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(x), x, x * x, t, x * t)]
    n, sx, sxx, sy, sxy = (p[J] - p[I] for p in pre)
    den = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(den > 1e-12 * n * np.maximum(sxx, 1e-300), (n * sxy - sx * sy) / den, 0.0)
    return n, sx, sy, prob.dp.k.quantize(k)


def _saturated(prob: Problem, K0, n, sx, sy):
    """Runs whose least-squares slope or refitted intercept was clipped to
    its format (K0 at a format limit, or the refit intercept beyond one)."""
    dp = prob.dp
    c = (sy - dp.k.to_real(K0) * sx) / n * 2.0 ** dp.c.frac
    return ((K0 == dp.k.min_code) | (K0 == dp.k.max_code)
            | (c < dp.c.min_code - 0.5) | (c >= dp.c.max_code + 0.5))


def _refit(prob: Problem, K, n, sx, sy):
    """Intercept code of the least-squares line with slope code K."""
    return prob.dp.c.quantize((sy - prob.dp.k.to_real(K) * sx) / n)


def _tables_prefix(prob: Problem, Ks, Cs, objective: str, bounds) -> np.ndarray:
    """Prefix sums of squared error of the one-segment tables (Ks, Cs),
    at the run boundaries: (P, M+1)."""
    P = len(Ks)
    out = np.empty((P, len(bounds)))
    none = np.zeros((CHUNK, 0), np.int64)
    for a in range(0, P, CHUNK):
        b = min(a + CHUNK, P)
        e2, _ = prob.sq_errors(none[: b - a], Ks[a:b, None], Cs[a:b, None], objective)
        cs = np.concatenate([np.zeros((b - a, 1)), np.cumsum(e2, axis=1)], axis=1)
        out[a:b] = cs[:, bounds]
    return out


def _sparse_max(E: np.ndarray) -> np.ndarray:
    """Range-maximum table of E (..., M): level l holds the max of
    E[..., i:i + 2^l] at i (valid for i + 2^l <= M), (..., L, M)."""
    M = E.shape[-1]
    L = max(1, M.bit_length())
    st = np.empty(E.shape[:-1] + (L, M))
    st[..., 0, :] = E
    for lv in range(1, L):
        h = 1 << (lv - 1)
        st[..., lv, :] = st[..., lv - 1, :]
        st[..., lv, :M - h] = np.maximum(st[..., lv - 1, :M - h], st[..., lv - 1, h:])
    return st


def _log2(n):
    return np.floor(np.log2(np.maximum(n, 1))).astype(np.int64)


def _range_max(st, rows, I, J):
    """max of the tables ``rows`` over runs [I, J) (broadcast), from _sparse_max."""
    lv = _log2(J - I)
    return np.maximum(st[rows, lv, I], st[rows, lv, J - (1 << lv)])


class _Runs:
    """Run costs of the one-segment tables (Ks[p], Cs[p]): prefix sums of
    their squared error at the run boundaries and, for ``maxerr``, a
    range-maximum table of their error in output LSBs (Problem.err_lsb)."""

    def __init__(self, prob: Problem, Ks, Cs, objective: str, bounds):
        P = len(Ks)
        self.maxerr = objective == "maxerr"
        self.pre = np.empty((P, len(bounds)))
        if self.maxerr:
            self.st = np.empty((P, max(1, len(prob.q).bit_length()), len(prob.q)))
        none = np.zeros((CHUNK, 0), np.int64)
        for a in range(0, P, CHUNK):
            b = min(a + CHUNK, P)
            if self.maxerr:
                y = prob.hw_out(none[: b - a], Ks[a:b, None], Cs[a:b, None])
                e2 = (prob.dp.y.to_real(y) - prob.t) ** 2
                self.st[a:b] = _sparse_max(prob.err_lsb(y))
            else:
                e2, _ = prob.sq_errors(none[: b - a], Ks[a:b, None], Cs[a:b, None], objective)
            cs = np.concatenate([np.zeros((b - a, 1)), np.cumsum(e2, axis=1)], axis=1)
            self.pre[a:b] = cs[:, bounds]

    def cost(self, rows, I, J):
        """(cost, tie-break) of runs [I, J) under tables ``rows`` (broadcast):
        (sum, None) for the sum objectives, (max error, sum of squares) for maxerr."""
        sse = self.pre[rows, J] - self.pre[rows, I]
        if not self.maxerr:
            return sse, None
        return _range_max(self.st, rows, I, J), sse


def _lex_argmin(c, c2):
    """Per row the index of the least ``c``, ties to the least ``c2`` (if
    given), then to the first."""
    if c2 is None:
        return np.argmin(c, axis=1)
    return np.argmin(np.where(c == c.min(axis=1, keepdims=True), c2, np.inf), axis=1)


def _lex_less(c, c2, b, b2):
    return c < b if c2 is None else (c < b) | ((c == b) & (c2 < b2))


def _costs_of_pairs(prob, I, J, Kc, Cc, objective, bounds):
    """Cost (S, W) of fixed candidate pairs per run (and maxerr's tie-break,
    else None), every distinct pair evaluated once, in chunks."""
    dp = prob.dp
    cspan = dp.c.max_code - dp.c.min_code + 1
    key = (Kc - dp.k.min_code) * cspan + (Cc - dp.c.min_code)
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(key.shape)
    cost = np.empty(key.shape)
    cost2 = np.empty(key.shape) if objective == "maxerr" else None
    step = CHUNK // 2 if objective == "maxerr" else 4 * CHUNK       # maxerr keeps L x M floats per pair
    for a in range(0, len(uniq), step):
        u = uniq[a:a + step]
        runs = _Runs(prob, u // cspan + dp.k.min_code, u % cspan + dp.c.min_code, objective, bounds)
        hit = (inv >= a) & (inv < a + len(u))
        s, w = np.nonzero(hit)
        c, c2 = runs.cost(inv[s, w] - a, I[s], J[s])
        cost[s, w] = c
        if cost2 is not None:
            cost2[s, w] = c2
    return cost, cost2


def _band(prob: Problem, k: np.ndarray, I, J):
    """max and min of t - k x over the runs [I, J), for slopes k (P,): (P, S) each."""
    v = prob.t - np.asarray(k, np.float64)[:, None] * prob.x
    rows = np.arange(len(v))[:, None]
    return _range_max(_sparse_max(v), rows, I, J), -_range_max(_sparse_max(-v), rows, I, J)


def chebyshev_slopes(prob: Problem, I, J, chunk: int = 16) -> np.ndarray:
    """Per run q[I:J], the slope code K whose float line, with the best real
    intercept, has the narrowest error band ``max(t - k x) - min(t - k x)``
    (the Chebyshev line with a quantized slope, before output rounding; ties
    to the lowest K). Every slope code between the least and greatest secant
    slope of neighbouring codes is scanned: a run's Chebyshev slope is a
    secant slope of two of its codes, hence in that interval."""
    dp = prob.dp
    if len(prob.x) > 1:
        sec = np.diff(prob.t) / np.diff(prob.x)
        klo = max(dp.k.min_code, int(np.floor(sec.min() / dp.k.lsb)))
        khi = min(dp.k.max_code, int(np.ceil(sec.max() / dp.k.lsb)))
        klo, khi = min(klo, dp.k.max_code), max(khi, dp.k.min_code)
    else:
        klo = khi = int(dp.k.quantize(0.0))
    best = np.full(len(I), np.inf)
    bestK = np.full(len(I), klo, np.int64)
    for a in range(klo, khi + 1, chunk):
        Ks = np.arange(a, min(a + chunk, khi + 1))
        hi, lo = _band(prob, dp.k.to_real(Ks), I, J)
        h = hi - lo
        w = np.argmin(h, axis=0)
        hw = h[w, np.arange(len(I))]
        better = hw < best
        best[better], bestK[better] = hw[better], Ks[w[better]]
    return bestK


def segment_costs(prob: Problem, objective: str = "hw", dk: int = DK, beta: float = BETA, dc: int = DC,
                  dcm: int = DCM):
    """Best line of every run q[i:j] (i < j): (I, J, cost, K, C, stats, sse).
    ``cost`` is the objective's sum over the run (hw, rel, fp) or, for
    maxerr, the run's largest error in output LSBs; ``sse`` is then the
    chosen line's sum of squared errors (the tie-break), else None."""
    dp = prob.dp
    mx = objective == "maxerr"
    M = len(prob.q)
    bounds, _ = _points(prob, objective)
    I, J = np.triu_indices(M + 1, k=1)
    # the GA's own lines first (ties keep them), as the GA's search scores them (Problem.as_searched)
    Kr, Cr = rule_lines(prob.as_searched(), I, J, objective)
    cr, cr2 = _costs_of_pairs(prob, I, J, Kr, Cr, objective, bounds)
    pick = _lex_argmin(cr, cr2)
    rows = np.arange(len(I))
    best, bK, bC = cr[rows, pick], Kr[rows, pick], Cr[rows, pick]
    best2 = cr2[rows, pick] if mx else None
    # slope windows, wider for shorter runs
    n, sx, sy, K0 = _lsq(prob, I, J)
    width = prob.x[J - 1] - prob.x[I]
    with np.errstate(divide="ignore"):
        adapt = np.where(width > 0, np.ceil(beta * dp.y.lsb / (dp.k.lsb * width)), 0)
    full = dp.k.max_code - dp.k.min_code
    # where least squares leaves the coefficient formats (slope or refitted
    # intercept clipped), the window's centre means little: scan every slope
    half = np.maximum(dk, np.minimum(adapt, full)).astype(np.int64)
    half[_saturated(prob, K0, n, sx, sy)] = full
    Klo = np.maximum(K0 - half, dp.k.min_code)
    Khi = np.minimum(K0 + half, dp.k.max_code)
    if mx:                      # maxerr: the same window around the quantized Chebyshev slope too
        Kc = chebyshev_slopes(prob, I, J)
        Kclo = np.maximum(Kc - half, dp.k.min_code)
        Kchi = np.minimum(Kc + half, dp.k.max_code)
        kfirst, klast = int(min(Klo.min(), Kclo.min())), int(max(Khi.max(), Kchi.max()))
    else:
        kfirst, klast = int(Klo.min()), int(Khi.max())
    offs = np.arange(-dc, dc + 1)
    offs_m = np.arange(-dcm, dcm + 1)
    scored = 2 * len(I)
    for K in range(kfirst, klast + 1):
        inside = (Klo <= K) & (K <= Khi)
        if mx:
            inside |= (Kclo <= K) & (K <= Kchi)
        s = np.nonzero(inside)[0]
        if len(s) == 0:
            continue
        C0 = _refit(prob, K, n[s], sx[s], sy[s])
        cand = C0[:, None] + offs
        if mx:                  # intercepts around the centre of the float error band for this slope
            hi, lo = _band(prob, np.array([dp.k.to_real(K)]), I[s], J[s])
            Cm = dp.c.quantize((hi[0] + lo[0]) / 2)
            cand = np.concatenate([cand, Cm[:, None] + offs_m], axis=1)
        clo = max(dp.c.min_code, int(cand.min()))
        chi = min(dp.c.max_code, int(cand.max()))
        Cs = np.arange(clo, chi + 1)
        runs = _Runs(prob, np.full(len(Cs), K), Cs, objective, bounds)
        idx = np.clip(cand - clo, 0, len(Cs) - 1)                  # (s, W), clipped: duplicates
        c, c2 = runs.cost(idx, I[s, None], J[s, None])
        w = _lex_argmin(c, c2)
        r = np.arange(len(s))
        cw, cw2 = c[r, w], (None if c2 is None else c2[r, w])
        better = _lex_less(cw, cw2, best[s], None if best2 is None else best2[s])
        t = s[better]
        best[t], bK[t], bC[t] = cw[better], K, Cs[idx[better, w[better]]]
        if mx:
            best2[t] = cw2[better]
        scored += c.size
    stats = {"runs": int(len(I)), "lines_scored": int(scored),
             "slope_window_max": int(half.max()), "slope_window_min": int(half.min())}
    return I, J, best, bK, bC, stats, best2


def _dp(D: np.ndarray, N: int, combine):
    """Least ``combine``-cost (np.add: sum, np.maximum: max) partitions of the
    codes into n = 1..N runs: the cost vector after N runs, the argmin of
    every step (for the backtrack) and the cost of the whole domain per n."""
    M = D.shape[0] - 1
    f = np.full(M + 1, np.inf)
    f[0] = 0.0
    back, curve = [], []
    cols = np.arange(M + 1)
    for _ in range(N):
        tot = combine(f[:, None], D)
        arg = np.argmin(tot, axis=0)
        f = tot[arg, cols]
        back.append(arg)
        curve.append(f[M])
    return f, back, np.array(curve)


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise FitError(f"method exact: unknown objective '{objective}'; known: {', '.join(OBJECTIVES)}")


def _matrix(M: int, I, J, v) -> np.ndarray:
    D = np.full((M + 1, M + 1), np.inf)
    D[I, J] = v
    return D


def minimax_curve(prob: Problem, n_max: int, costs=None) -> np.ndarray:
    """The least max error (output LSBs) of the exact maxerr DP for n = 1..n_max
    entries (index n - 1; inf where n exceeds the codes), from one DP pass.
    ``costs``: ``segment_costs(prob, "maxerr")`` if already computed."""
    M = _check(prob)
    I, J, cost, *_ = costs if costs is not None else segment_costs(prob, "maxerr")
    return _dp(_matrix(M, I, J, cost), n_max, np.maximum)[2]


def fit_exact(prob: Problem, objective: str = "hw", dk: int = DK, beta: float = BETA,
              dc: int = DC, costs=None) -> ExactResult:
    """The optimal ``prob.entries``-segment table under ``objective`` (see
    the module docstring for what is optimal). Deterministic: no random
    draws; ties go to the GA's lines, then the lowest slope, then the
    earliest breakpoint. ``costs``: the result of ``segment_costs(prob,
    objective, dk, beta, dc)`` if already computed (it does not depend on
    the number of entries, so one serves every N)."""
    _check_objective(objective)
    M = _check(prob)
    N = prob.entries
    _, npts = _points(prob, objective)
    I, J, cost, bK, bC, stats, sse = costs if costs is not None else segment_costs(prob, objective, dk, beta, dc)
    if objective == "maxerr":
        # min over segmentations of the max over segments, then among the
        # segmentations reaching it the least total squared error
        f, _, _ = _dp(_matrix(M, I, J, cost), N, np.maximum)
        top = f[M]
        if np.isfinite(top):
            f, back, _ = _dp(_matrix(M, I, J, np.where(cost <= top, sse, np.inf)), N, np.add)
        value = float(top)
    else:
        f, back, _ = _dp(_matrix(M, I, J, cost), N, np.add)
        value = float(f[M]) / npts
    if not np.isfinite(f[M]):
        raise FitError(f"method exact: {M} codes cannot hold {N} segments")
    seg = np.full((M + 1, M + 1), -1, np.int64)
    seg[I, J] = np.arange(len(I))
    runs, j = [], M
    for arg in reversed(back):
        i = int(arg[j])
        runs.append(seg[i, j])
        j = i
    runs = np.array(runs[::-1], np.int64)
    bps = prob.q[I[runs[1:]]]
    window = {"slope_min": dk, "slope_beta_lsb": beta, "intercept": dc}
    if objective == "maxerr":
        window["intercept_band_centre"] = DCM
        optimality = OPTIMALITY_MAXERR.format(dk=dk, beta=beta, dc=dc, dcm=DCM)
    else:
        optimality = OPTIMALITY.format(dk=dk, beta=beta, dc=dc)
    info = {"objective": objective, "window": window, **stats, "optimality": optimality}
    return ExactResult(bps, bK[runs], bC[runs], value, info)


def best_lines(prob: Problem, bps, objective: str = "hw", dk: int = DK, dc: int = 4):
    """Best (K, C) per segment of the fixed breakpoints ``bps`` (N-1 codes)
    scored directly on ``prob`` (any width; for int16/int32 tables that
    keep the int8 breakpoints): the GA's lsq and chord lines and, around the
    least-squares line, slopes +-dk and per slope intercepts +-dc (+-1 each
    where the datapath needs more than 64 bits). Objective ``maxerr``: each
    segment's minimax line over every (K, C) (:func:`minimax_line`) where
    the datapath is float-exact (:func:`float_exact`: up to int16), else
    the window above scored by max error. Returns (K, C), (1, N)."""
    bps = np.atleast_2d(np.asarray(bps, np.int64))
    b = prob._bounds(bps)[0]
    I, J = b[:-1], b[1:]
    if (J <= I).any():
        raise FitError("best_lines: every segment must hold at least one domain code")
    if objective == "maxerr" and float_exact(prob.dp):
        lines = [minimax_line(prob, int(i), int(j))[:2] for i, j in zip(I, J)]
        return np.array([[k for k, _ in lines]], np.int64), np.array([[c for _, c in lines]], np.int64)
    if not prob.dp.fits_int64:
        dk, dc = min(dk, 1), min(dc, 1)       # Python-int arithmetic: keep the window small
    n, sx, sy, K0 = _lsq(prob, I, J)
    Ks = np.clip(K0[:, None] + np.arange(-dk, dk + 1), prob.dp.k.min_code, prob.dp.k.max_code)
    C0 = _refit(prob, Ks, n[:, None], sx[:, None], sy[:, None])
    Cs = np.clip(C0[:, :, None] + np.arange(-dc, dc + 1), prob.dp.c.min_code, prob.dp.c.max_code)
    Kw = np.broadcast_to(Ks[:, :, None], Cs.shape).reshape(len(I), -1)
    searched = prob.as_searched()           # the candidate lines as ever (Problem.one_code_lines)
    (Kl, Cl), (Kh, Ch) = searched.coeffs(bps, "lsq", objective), searched.coeffs(bps, "chord", objective)
    Kc = np.concatenate([Kl.T, Kh.T, Kw], axis=1)
    Cc = np.concatenate([Cl.T, Ch.T, Cs.reshape(len(I), -1)], axis=1)
    K, C = np.empty(len(I), np.int64), np.empty(len(I), np.int64)
    tab = np.zeros((Kc.shape[1], 0), np.int64)
    for s, (i, j) in enumerate(zip(I, J)):
        if objective == "fp":
            e2, _ = prob.sq_errors(tab, Kc[s, :, None], Cc[s, :, None], "fp")
            lo = 0 if s == 0 else np.searchsorted(prob.xf, prob.x[i])
            hi = len(prob.xf) if s == len(I) - 1 else np.searchsorted(prob.xf, prob.x[j])
            err = e2[:, lo:hi].sum(axis=1)
        else:
            y = pwl_int(prob.q[i:j], tab, Kc[s, :, None], Cc[s, :, None], prob.dp)
            e2 = (prob.dp.y.to_real(y) - prob.t[i:j]) ** 2
            if objective == "rel":            # Problem's relative-error objective
                e2 = e2 * prob.w_rel[i:j]
            err = e2.sum(axis=1)
            if objective == "maxerr":         # datapaths beyond float64: the window, by max error
                err = np.abs(y - prob.t[i:j] * 2.0 ** prob.dp.y.frac).max(axis=1) + 1e-300 * err
        w = int(np.argmin(err))
        K[s], C[s] = Kc[s, w], Cc[s, w]
    return K[None], C[None]


def certify(prob: Problem, bps, K, C, max_pairs: int = 1 << 17) -> dict:
    """Exhaustive check of the lines of one table under ``mse_hw``: for each
    segment of the fixed breakpoints ``bps``, the best (K, C) over the whole
    coefficient space. Returns {"certified": True/False, or None when the
    space has more than ``max_pairs`` pairs, "gap_sse": table SSE minus the
    best possible with these breakpoints, "best_mse_hw"}."""
    dp = prob.dp
    nk = dp.k.max_code - dp.k.min_code + 1
    nc = dp.c.max_code - dp.c.min_code + 1
    if nk * nc > max_pairs or prob.sampled:
        return {"certified": None, "why": f"coefficient space {nk} x {nc} too large to enumerate"}
    bps = np.atleast_2d(np.asarray(bps, np.int64))
    b = prob._bounds(bps)[0]
    Cs = np.arange(dp.c.min_code, dp.c.max_code + 1)
    best = np.full(len(b) - 1, np.inf)
    for k in range(dp.k.min_code, dp.k.max_code + 1):
        pre = _tables_prefix(prob, np.full(nc, k), Cs, "hw", np.arange(len(prob.q) + 1))
        best = np.minimum(best, (pre[:, b[1:]] - pre[:, b[:-1]]).min(axis=0))
    have = prob.segment_errors(bps, np.atleast_2d(K), np.atleast_2d(C), "hw")[0]
    gap = float((have - best).sum())
    return {"certified": bool(gap <= 1e-9 * max(float(best.sum()), 1e-30)), "gap_sse": gap,
            "best_mse_hw": float(best.sum()) / len(prob.q)}
