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

OPTIMALITY = ("optimal segmentation: every set of N-1 breakpoints on input codes is considered; per "
              "segment the best line among: every slope within max({dk}, {beta} output LSB / (slope LSB * "
              "segment width)) codes of the quantized least-squares slope (every slope where that "
              "slope or its intercept saturates), for each slope every "
              "intercept within {dc} codes of the refitted least-squares intercept, and the GA's lsq "
              "and chord lines. Globally optimal over all integer (K, C) only where these windows hold "
              "each segment's best line (fitter.exact.certify checks a table's lines exhaustively).")


#: The fit block's note for tables whose breakpoints were given (int16/int32 from the int8 fit).
GIVEN_BREAKPOINTS = ("breakpoints given (for int16/int32: the int8 exact fit's, optimal on the int8 grid "
                     "only); each segment's line re-searched at this width by best_lines: the GA's lsq and "
                     "chord lines, slopes +-3 and per slope intercepts +-4 codes around least squares "
                     "(+-1 each where the datapath exceeds 64 bits)")


@dataclass
class ExactResult:
    bps: np.ndarray          # (N-1,) breakpoint codes
    K: np.ndarray            # (N,) slope codes
    C: np.ndarray            # (N,) intercept codes
    cost: float              # minimized objective (mse_hw or mse_fp)
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


def _rule_lines(prob: Problem, I: np.ndarray, J: np.ndarray, objective: str):
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


def _costs_of_pairs(prob, I, J, Kc, Cc, objective, bounds):
    """Cost (S, W) of fixed candidate pairs per run, every distinct pair
    evaluated once, in chunks."""
    dp = prob.dp
    cspan = dp.c.max_code - dp.c.min_code + 1
    key = (Kc - dp.k.min_code) * cspan + (Cc - dp.c.min_code)
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(key.shape)
    cost = np.empty(key.shape)
    step = 4 * CHUNK
    for a in range(0, len(uniq), step):
        u = uniq[a:a + step]
        pre = _tables_prefix(prob, u // cspan + dp.k.min_code, u % cspan + dp.c.min_code, objective, bounds)
        hit = (inv >= a) & (inv < a + len(u))
        s, w = np.nonzero(hit)
        cost[s, w] = pre[inv[s, w] - a, J[s]] - pre[inv[s, w] - a, I[s]]
    return cost


def segment_costs(prob: Problem, objective: str = "hw", dk: int = DK, beta: float = BETA, dc: int = DC):
    """Best line of every run q[i:j] (i < j): (I, J, cost, K, C, stats)."""
    dp = prob.dp
    M = len(prob.q)
    bounds, _ = _points(prob, objective)
    I, J = np.triu_indices(M + 1, k=1)
    # the GA's own lines first (ties keep them)
    Kr, Cr = _rule_lines(prob, I, J, objective)
    cr = _costs_of_pairs(prob, I, J, Kr, Cr, objective, bounds)
    pick = np.argmin(cr, axis=1)
    rows = np.arange(len(I))
    best, bK, bC = cr[rows, pick], Kr[rows, pick], Cr[rows, pick]
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
    offs = np.arange(-dc, dc + 1)
    scored = 2 * len(I)
    for K in range(int(Klo.min()), int(Khi.max()) + 1):
        s = np.nonzero((Klo <= K) & (K <= Khi))[0]
        if len(s) == 0:
            continue
        C0 = _refit(prob, K, n[s], sx[s], sy[s])
        clo = max(dp.c.min_code, int(C0.min()) - dc)
        chi = min(dp.c.max_code, int(C0.max()) + dc)
        Cs = np.arange(clo, chi + 1)
        pre = _tables_prefix(prob, np.full(len(Cs), K), Cs, objective, bounds)
        idx = np.clip(C0[:, None] + offs - clo, 0, len(Cs) - 1)          # (s, 2dc+1), clipped: duplicates
        c = pre[idx, J[s, None]] - pre[idx, I[s, None]]
        w = np.argmin(c, axis=1)
        cw = c[np.arange(len(s)), w]
        better = cw < best[s]
        t = s[better]
        best[t], bK[t], bC[t] = cw[better], K, Cs[idx[better, w[better]]]
        scored += c.size
    stats = {"runs": int(len(I)), "lines_scored": int(scored),
             "slope_window_max": int(half.max()), "slope_window_min": int(half.min())}
    return I, J, best, bK, bC, stats


def fit_exact(prob: Problem, objective: str = "hw", dk: int = DK, beta: float = BETA,
              dc: int = DC) -> ExactResult:
    """The optimal ``prob.entries``-segment table under ``objective`` (see
    the module docstring for what is optimal). Deterministic: no random
    draws; ties go to the GA's lines, then the lowest slope, then the
    earliest breakpoint."""
    M = _check(prob)
    N = prob.entries
    _, npts = _points(prob, objective)
    I, J, cost, bK, bC, stats = segment_costs(prob, objective, dk, beta, dc)
    D = np.full((M + 1, M + 1), np.inf)
    D[I, J] = cost
    seg = np.full((M + 1, M + 1), -1, np.int64)
    seg[I, J] = np.arange(len(I))
    f = np.full(M + 1, np.inf)
    f[0] = 0.0
    back = []
    cols = np.arange(M + 1)
    for _ in range(N):
        tot = f[:, None] + D
        arg = np.argmin(tot, axis=0)
        f = tot[arg, cols]
        back.append(arg)
    if not np.isfinite(f[M]):
        raise FitError(f"method exact: {M} codes cannot hold {N} segments")
    runs, j = [], M
    for arg in reversed(back):
        i = int(arg[j])
        runs.append(seg[i, j])
        j = i
    runs = np.array(runs[::-1], np.int64)
    bps = prob.q[I[runs[1:]]]
    info = {"objective": objective, "window": {"slope_min": dk, "slope_beta_lsb": beta, "intercept": dc},
            **stats,
            "optimality": OPTIMALITY.format(dk=dk, beta=beta, dc=dc)}
    return ExactResult(bps, bK[runs], bC[runs], float(f[M]) / npts, info)


def best_lines(prob: Problem, bps, objective: str = "hw", dk: int = DK, dc: int = 4):
    """Best (K, C) per segment of the fixed breakpoints ``bps`` (N-1 codes)
    scored directly on ``prob`` (any width; for int16/int32 tables that
    keep the int8 breakpoints): the GA's lsq and chord lines and, around the
    least-squares line, slopes +-dk and per slope intercepts +-dc (+-1 each
    where the datapath needs more than 64 bits). Returns (K, C), (1, N)."""
    bps = np.atleast_2d(np.asarray(bps, np.int64))
    b = prob._bounds(bps)[0]
    I, J = b[:-1], b[1:]
    if (J <= I).any():
        raise FitError("best_lines: every segment must hold at least one domain code")
    if not prob.dp.fits_int64:
        dk, dc = min(dk, 1), min(dc, 1)       # Python-int arithmetic: keep the window small
    n, sx, sy, K0 = _lsq(prob, I, J)
    Ks = np.clip(K0[:, None] + np.arange(-dk, dk + 1), prob.dp.k.min_code, prob.dp.k.max_code)
    C0 = _refit(prob, Ks, n[:, None], sx[:, None], sy[:, None])
    Cs = np.clip(C0[:, :, None] + np.arange(-dc, dc + 1), prob.dp.c.min_code, prob.dp.c.max_code)
    Kw = np.broadcast_to(Ks[:, :, None], Cs.shape).reshape(len(I), -1)
    (Kl, Cl), (Kh, Ch) = prob.coeffs(bps, "lsq", objective), prob.coeffs(bps, "chord", objective)
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
