"""Fit of the segment-local polynomial unit (``impl: "poly"``, degree 1):
the fewest segments, then the narrowest coefficient formats, that keep the
golden model (:mod:`hw.poly.model`) within ``bound_lsb`` output LSB on every
input code of the domain, certified code by code (:func:`fitter.minimal.certify`).

The per-segment test is exact. For a segment with domain codes ``t``
(local offsets) and targets ``T_t = f(x_t) 2^f_y``, the output meets the
bound iff ``L_t <= y_t <= U_t`` with ``L_t = ceil(T_t - B)``, ``U_t =
floor(T_t + B)``. ``y`` is non-decreasing in ``acc`` (rounding and
saturation are monotone), so each code bounds ``acc`` to an integer
interval (unbounded on a side where saturation alone meets the bound), and
for a given ``c1`` each code bounds ``c0`` to an integer interval::

    c0 in [ceil((accL_t - c1 t 2^a1) / 2^a0), floor((accU_t - c1 t 2^a1) / 2^a0)]

A segment is feasible iff some integer ``c1`` leaves a non-empty
intersection over its codes. Every ``c1`` that can work lies in the
interval the segment's first and last constrained codes allow (a necessary
condition, so no solution is missed); all of them are tested (at most
:data:`MAX_CANDIDATES`, evenly spaced beyond that, which can only make the
search miss a solution, never accept a wrong one). Of the feasible pairs the
one with the widest ``c0`` interval is kept, ``c0`` in its middle.

The search, all with exact tests:

1. ``k`` = 0, 1, 2, ... (2^k segments, k < input bits, 2^k <= 4096): the
   first ``k`` at which every segment is feasible with generous formats
   (:data:`GUARD` fractional bits below what a coefficient step costs at the
   output) is the fewest segments. Feasibility at a fixed ``k`` only grows
   with the fractional bits, up to the candidate sampling, so a ``k`` that
   fails there fails with any narrower format.
2. At that ``k``: the fewest fractional bits of ``c1`` (with ``c0`` generous),
   then of ``c0``; then for the two ``c1`` fractions after the least, the
   fewest of ``c0`` again, keeping the pair with the fewest total bits.
3. Bits: each column's width is first what its fitted values need, then
   reduced one bit at a time while a refit with the coefficients restricted
   to that width (``c1`` candidates clipped, the ``c0`` interval
   intersected) still meets the bound.

Segments without a domain code (an op's range narrower than its input
format, e.g. exp on [-8, 0] of s16.12) get ``c1 = 0`` and the ``c0`` of the
nearest segment that has one; a segment that holds a single domain code gets
``c1 = 0``.
"""

from __future__ import annotations


import numpy as np

from fitter import functions
from fitter.fit import WIDEN, datapath
from fitter.problem import FitError
from hw.fixed import Fixed
from hw.poly import model as poly_model
from hw.spec import MAX_POLY_ENTRIES, Coeffs, Spec

#: generous formats: fractional bits beyond the point where one coefficient step moves the output by 1 LSB
GUARD = 4
#: most c1 values tested per segment
MAX_CANDIDATES = 512
#: elements per vectorized block (segments x candidates x codes)
BLOCK = 1 << 22
_INF = 1 << 60
_BIG = 1 << 50          # |c0| bounds beyond this came from an unbounded (saturating) side
#: the domain is certified code by code: inputs up to 16 bits
MAX_POLY_BITS = 16


class PolyBoundNotMet(FitError):
    """No poly table meets the bound (some code has no reachable output, or
    more than 4096 segments would be needed)."""


def _func(op) -> functions.Function:
    return op if isinstance(op, functions.Function) else functions.get(op)


class _Domain:
    """The domain codes of one op, formats and bound: targets and the
    accumulator bounds per code for given fractional bits."""

    def __init__(self, func, x: Fixed, y: Fixed, rng, bound: float):
        lo, hi = rng
        qlo = max(x.min_code, int(np.ceil(lo * 2.0 ** x.frac)))
        qhi = min(x.max_code, int(np.floor(hi * 2.0 ** x.frac)))
        if qhi < qlo:
            raise FitError(f"poly: the range [{lo}, {hi}] holds no code of {x.label()}")
        self.func, self.x, self.y, self.bound, self.range = func, x, y, float(bound), (float(lo), float(hi))
        self.q = np.arange(qlo, qhi + 1, dtype=np.int64)
        with np.errstate(all="ignore"):
            self.T = func(x.to_real(self.q)) * 2.0 ** y.frac
        # the least and largest outputs within the bound, by the certificate's own test |y - T| <= B
        # (fitter.minimal.certify), so that float rounding of T +- B cannot make the two disagree
        B, T = self.bound, self.T
        L = np.ceil(T - B)
        L = np.where(np.abs(L - 1 - T) <= B, L - 1, np.where(np.abs(L - T) <= B, L, L + 1))
        U = np.floor(T + B)
        U = np.where(np.abs(U + 1 - T) <= B, U + 1, np.where(np.abs(U - T) <= B, U, U - 1))
        self.L, self.U = L.astype(np.int64), U.astype(np.int64)
        bad = np.flatnonzero((self.L > self.U) | (self.L > y.max_code) | (self.U < y.min_code))
        if len(bad):
            i = int(bad[0])
            raise PolyBoundNotMet(f"no table meets {bound} LSB: at x = {float(x.to_real(self.q[i]))} (code "
                                  f"{int(self.q[i])}) f = {float(self.T[i]):.4f} LSB and no output code of "
                                  f"{y.label()} lies within the bound; {len(bad)} such code(s)")

    def acc_bounds(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Integer bounds on ``acc`` per code such that ``clamp(rhu(acc, s))``
        lies in [L, U] (+-_INF where saturation alone meets a side)."""
        L, U, y = self.L, self.U, self.y
        if s > 0:
            h = 1 << (s - 1)
            lo = (L << s) - h
            hi = ((U + 1) << s) - h - 1
        else:
            d = 1 << -s
            lo = -((-L) // d)               # ceil(L / 2^-s)
            hi = U // d
        lo = np.where(L <= y.min_code, -_INF, lo)
        hi = np.where(U >= y.max_code, _INF, hi)
        return lo, hi


#: symmetry folding per op (DESIGN.md): ("odd", K in real units): f(-x) = K - f(x); ("x", None): f(-x) = f(x) - x
FOLDS = {"tanh": ("odd", 0.0), "sigmoid": ("odd", 1.0), "gelu": ("x", None), "silu": ("x", None),
         "hswish": ("x", None)}


def _fold_domain(dom: _Domain) -> _Domain:
    """The folded fit's domain: the magnitudes ``a`` of ``dom``'s codes, as codes
    of the unsigned (w-1)-bit format, each with the outputs ``Y`` of the
    polynomial part that meet the bound at ``q = a`` and, through the fold, at
    ``q = -a`` (``q = min_code`` for the largest ``a``), intersected."""
    func, x, y = dom.func, dom.x, dom.y
    kind, K = FOLDS[func.name]
    if not x.signed:
        raise FitError(f"poly fold: {func.name}'s input {x.label()} is unsigned; folding needs a signed one")
    if kind == "x" and y.frac < x.frac:
        raise FitError(f"poly fold: kind 'x' needs output frac >= input frac ({y.label()}, {x.label()})")
    K = 0 if K is None else int(round(K * 2.0 ** y.frac))
    hx = poly_model.half(x)
    n = hx.max_code + 1
    lo, hi = np.full(n, y.min_code, np.int64), np.full(n, y.max_code, np.int64)
    seen = np.zeros(n, bool)
    T = np.full(n, np.nan)
    pos = dom.q >= 0
    a = dom.q[pos]
    lo[a], hi[a] = np.maximum(lo[a], dom.L[pos]), np.minimum(hi[a], dom.U[pos])
    seen[a], T[a] = True, dom.T[pos]
    neg = ~pos
    a = poly_model.magnitude(dom.q[neg], x)
    L, U = dom.L[neg], dom.U[neg]
    # clamp(v) in [L, U] iff v in [L or -inf at y_min, U or +inf at y_max]; v = K - Y or Y - D
    vlo = np.where(L <= y.min_code, -_INF, L)
    vhi = np.where(U >= y.max_code, _INF, U)
    if kind == "odd":
        ylo, yhi, tn = K - vhi, K - vlo, K - dom.T[neg]
    else:
        D = a << (y.frac - x.frac)
        ylo, yhi, tn = vlo + D, vhi + D, dom.T[neg] + D
    np.maximum.at(lo, a, np.clip(ylo, -_INF, _INF))
    np.minimum.at(hi, a, np.clip(yhi, -_INF, _INF))
    T[a] = np.where(np.isnan(T[a]), tn, T[a])
    seen[a] = True
    q = np.flatnonzero(seen).astype(np.int64)
    bad = q[lo[q] > hi[q]]
    if len(bad):
        raise PolyBoundNotMet(f"no folded table meets {dom.bound} LSB: at |x| = {float(hx.to_real(bad[0]))} the "
                              f"outputs within the bound at x and -x do not meet through the fold ({kind}); "
                              f"{len(bad)} such magnitude(s)")
    f = _Domain.__new__(_Domain)
    f.func, f.x, f.y, f.bound, f.range = func, hx, y, dom.bound, dom.range
    f.q, f.T, f.L, f.U = q, T[q], lo[q], hi[q]
    f.real, f.fold = dom, (kind, K)
    return f


def _fold_note(dom) -> dict:
    """The fit block's ``fold`` entry of a folded fit (nothing for an unfolded one)."""
    if getattr(dom, "fold", None) is None:
        return {}
    kind, K = dom.fold
    return {"fold": {"kind": kind, **({"offset": K} if kind == "odd" else {}),
                     "magnitudes": int(len(dom.q)), "codes": int(len(dom.real.q))}}


def _layout(dom: _Domain, k: int):
    """Domain codes by segment: (segments that hold codes, their (S, M) local
    offsets t, index into the domain, a mask of real codes)."""
    x = dom.x
    seg, t = poly_model.split(dom.q, x, k)
    segs, start, count = np.unique(seg, return_index=True, return_counts=True)
    M = int(count.max())
    idx = start[:, None] + np.arange(M)[None, :]
    mask = np.arange(M)[None, :] < count[:, None]
    idx = np.where(mask, idx, start[:, None])
    return segs, t[idx], idx, mask


def _first_last(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a boolean (S, M) array: index of the first and the last True, and whether any."""
    M = ok.shape[1]
    return ok.argmax(axis=1), M - 1 - ok[:, ::-1].argmax(axis=1), ok.any(axis=1)


def _slope_bound(dom: _Domain, t, Tsm, mask, lo, hi, a1: int, s: int, lower: bool) -> np.ndarray:
    """A necessary lower (or upper) bound on c1 per segment: from the first code
    bounded above and the last bounded below (for the upper bound: first below,
    last above). Where a segment has no such pair (one constrained code, or a
    side left open by saturation): 0 for a single code, else the targets' own
    slope widened by 4B + 4 LSB plus its rise over the segment."""
    fin_lo, fin_hi = mask & (lo > -_INF), mask & (hi < _INF)
    a_ok, b_ok = (fin_hi, fin_lo) if lower else (fin_lo, fin_hi)
    a, _, any_a = _first_last(a_ok)
    _, b, any_b = _first_last(b_ok)
    r = np.arange(len(t))
    span = (t[r, b] - t[r, a]) << a1
    good = any_a & any_b & (span > 0)
    d = (lo[r, b] - hi[r, a]) if lower else (hi[r, b] - lo[r, a])
    span1 = np.where(good, span, 1)
    exact = -((-d) // span1) if lower else d // span1
    # fallback: the targets' rise between the segment's first and last domain codes
    f, l, _ = _first_last(mask)
    dt = (t[r, l] - t[r, f]).astype(np.float64)
    dT = Tsm[r, l] - Tsm[r, f]
    wide = 4 * dom.bound + 4 + np.abs(dT)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = ((dT - wide) if lower else (dT + wide)) * 2.0 ** s / np.where(dt > 0, dt * 2.0 ** a1, 1)
    est = np.where(dt > 0, np.floor(est) if lower else np.ceil(est), 0).astype(np.int64)
    return np.where(good, exact, est)


def _core(dom: _Domain, t, Tsm, mask, lo, hi, a0: int, a1: int, s: int, b0: int | None, b1: int | None):
    """The exact per-segment test on rows of codes (segments): for each row the
    (c0, c1) with ``lo <= c0 2^a0 + c1 t 2^a1 <= hi`` on every real code (``mask``)
    and the widest c0 interval, c0 in its middle. Returns (C0, C1, ok) per row."""
    S, M = t.shape
    c1_min = -(1 << (b1 - 1)) if b1 else -_INF
    c1_max = (1 << (b1 - 1)) - 1 if b1 else _INF
    c0_min = -(1 << (b0 - 1)) if b0 else -_INF
    c0_max = (1 << (b0 - 1)) - 1 if b0 else _INF
    # necessary range of c1 per segment, from two codes a < b with finite bounds:
    # c1 (t_b - t_a) 2^a1 in [lo_b - hi_a, hi_b - lo_a]
    C1_lo = _slope_bound(dom, t, Tsm, mask, lo, hi, a1, s, lower=True)
    C1_hi = _slope_bound(dom, t, Tsm, mask, lo, hi, a1, s, lower=False)
    C1_lo, C1_hi = np.maximum(C1_lo, c1_min), np.minimum(C1_hi, c1_max)
    ok = C1_lo <= C1_hi
    C0 = np.zeros(S, np.int64)
    C1 = np.zeros(S, np.int64)
    if not ok.any():
        return C0, C1, ok
    n = int((C1_hi - C1_lo)[ok].max()) + 1
    steps = np.arange(n, dtype=np.int64) if n <= MAX_CANDIDATES else \
        np.unique(np.round(np.linspace(0, n - 1, MAX_CANDIDATES)).astype(np.int64))
    per = max(1, BLOCK // (len(steps) * M))
    chunk = max(1, BLOCK // M)              # candidates at a time when one row alone exceeds the block
    for j0 in range(0, S, per):
        sl = slice(j0, j0 + per)
        rows = np.arange(S)[sl]
        best_w = np.full(len(rows), -1, np.int64)
        best_c1 = np.zeros(len(rows), np.int64)
        best_l = np.zeros(len(rows), np.int64)
        best_h = np.zeros(len(rows), np.int64)
        for i0 in range(0, len(steps), chunk):
            cand = C1_lo[sl, None] + steps[None, i0:i0 + chunk]          # (s, n)
            valid = cand <= C1_hi[sl, None]
            p = (cand[:, :, None] * t[sl, None, :]) << a1             # (s, n, M)
            lo_c0 = (-((p - lo[sl, None, :]) >> a0)).max(axis=2)      # ceil((lo - p) / 2^a0)
            hi_c0 = ((hi[sl, None, :] - p) >> a0).min(axis=2)         # floor((hi - p) / 2^a0)
            lo_c0 = np.maximum(lo_c0, c0_min)
            hi_c0 = np.minimum(hi_c0, c0_max)
            width = np.where(valid, hi_c0 - lo_c0, -1)
            best = width.argmax(axis=1)
            r = np.arange(len(best))
            better = width[r, best] > best_w                          # the first widest, over the chunks
            best_w = np.where(better, width[r, best], best_w)
            best_c1 = np.where(better, cand[r, best], best_c1)
            best_l = np.where(better, lo_c0[r, best], best_l)
            best_h = np.where(better, hi_c0[r, best], best_h)
        ok[sl] &= best_w >= 0
        C1[sl] = best_c1
        l, h = best_l, best_h
        # unbounded sides (saturation): stay near the bounded one
        l = np.where(l <= -_BIG, np.minimum(h, 0), l)
        h = np.where(h >= _BIG, np.maximum(l, 0), h)
        C0[sl] = (l + h) >> 1
    return C0, C1, ok


def _fill(n_all: int, segs, *cols):
    """Columns over all 2^k segments from those of the fitted segments ``segs``: a
    segment without a domain code takes the nearest fitted segment's c0 and 0 for
    the other coefficients."""
    outs = [np.zeros(n_all, np.int64) for _ in cols]
    for o, c in zip(outs, cols):
        o[segs] = c
    near = segs[np.clip(np.searchsorted(segs, np.arange(n_all)), 0, len(segs) - 1)]
    left = segs[np.clip(np.searchsorted(segs, np.arange(n_all), side="right") - 1, 0, len(segs) - 1)]
    near = np.where(np.abs(left - np.arange(n_all)) <= np.abs(near - np.arange(n_all)), left, near)
    empty = ~np.isin(np.arange(n_all), segs)
    outs[0][empty] = outs[0][near[empty]]
    for o in outs[1:]:
        o[empty] = 0
    return tuple(outs)


def _solve(dom: _Domain, k: int, f0: int, f1: int, b0: int | None = None, b1: int | None = None):
    """Per-segment (c0, c1) meeting the bound with c0 in s?.f0 and c1 in s?.f1
    (``b0``/``b1``: restrict to that many signed bits; None: unbounded).
    Returns (C0, C1) over all 2^k segments, or None if a segment has no line."""
    x, y = dom.x, dom.y
    F = max(f0, f1 + x.frac)
    a0, a1, s = F - f0, F - f1 - x.frac, F - y.frac
    accL, accU = dom.acc_bounds(s)
    segs, t, idx, mask = _layout(dom, k)
    lo = np.where(mask, accL[idx], -_INF)
    hi = np.where(mask, accU[idx], _INF)
    C0, C1, ok = _core(dom, t, dom.T[idx], mask, lo, hi, a0, a1, s, b0, b1)
    if not ok.all():
        return None
    return _fill(1 << k, segs, C0, C1)


#: degree 2: c2 offsets from the least-squares value tried on a segment that fails, in order
C2_TRIES = (0, 1, -1, 2, -2, 3, -3)


def _parabolas(dom: _Domain, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per fitted segment: the t^2 coefficient (output LSB per t^2) of the float
    least-squares parabola through its targets, and the RMS of its residual.
    Codes whose target lies within the bound of a saturation limit are left out
    (the output may saturate there); a segment with fewer than three other
    codes gets 0 and 0. Cached per k on ``dom``."""
    cache = dom.__dict__.setdefault("_parabolas", {})
    if k in cache:
        return cache[k]
    segs, t, idx, mask = _layout(dom, k)
    T = dom.T[idx]
    y, B = dom.y, dom.bound
    use = mask & np.isfinite(T) & (T > y.min_code + B) & (T < y.max_code - B)
    w = use.astype(np.float64)
    m = dom.x.bits - k
    tt = t.astype(np.float64) * 2.0 ** -m          # t scaled to [0, 1) for conditioning
    T = np.where(use, T, 0.0)
    mom = [(w * tt ** j).sum(axis=1) for j in range(5)]
    rhs = [(w * tt ** j * T).sum(axis=1) for j in range(3)]
    A = np.stack([np.stack(mom[i:i + 3], axis=-1) for i in range(3)], axis=1)      # (S, 3, 3)
    b = np.stack(rhs, axis=-1)
    n = use.sum(axis=1)
    good = n >= 3
    c2, rms = np.zeros(len(segs)), np.zeros(len(segs))
    if good.any():
        coef = np.linalg.solve(A[good], b[good][..., None])[..., 0]                  # (G, 3), in scaled t
        fit = coef[:, 0:1] + coef[:, 1:2] * tt[good] + coef[:, 2:3] * tt[good] ** 2
        res = np.where(use[good], fit - T[good], 0.0)
        rms[good] = np.sqrt((res * res).sum(axis=1) / n[good])
        c2[good] = coef[:, 2] * 4.0 ** -m
    cache[k] = (c2, rms)
    return c2, rms


def _solve2(dom: _Domain, k: int, f0: int, f1: int, f2: int, b0: int | None = None, b1: int | None = None,
            b2: int | None = None):
    """Degree 2: per-segment (c0, c1, c2) meeting the bound, c2 from the
    least-squares parabola rounded to s?.f2 (then +-1, +-2, +-3 where that
    fails), (c0, c1) by the exact test with ``q2`` known per code. Returns
    (C0, C1, C2) over all 2^k segments, or None if a segment has none."""
    x, y = dom.x, dom.y
    F = max(f0, f1 + x.frac)
    a0, a1, s = F - f0, F - f1 - x.frac, F - y.frac
    r = f2 + x.frac - f1
    accL, accU = dom.acc_bounds(s)
    segs, t, idx, mask = _layout(dom, k)
    lo0 = np.where(mask, accL[idx], -_INF)
    hi0 = np.where(mask, accU[idx], _INF)
    Tsm = dom.T[idx]
    base = np.round(_parabolas(dom, k)[0] * 2.0 ** (f2 + 2 * x.frac - y.frac)).astype(np.int64)
    S = len(segs)
    C0, C1, C2 = np.zeros(S, np.int64), np.zeros(S, np.int64), np.zeros(S, np.int64)
    done = np.zeros(S, bool)
    c2_min, c2_max = (-(1 << (b2 - 1)), (1 << (b2 - 1)) - 1) if b2 else (-_INF, _INF)
    for off in C2_TRIES:
        rows = np.flatnonzero(~done)
        if not len(rows):
            break
        c2 = base[rows] + off
        use = (c2 >= c2_min) & (c2 <= c2_max)
        rows, c2 = rows[use], c2[use]
        if not len(rows):
            continue
        tr = t[rows]
        p2 = c2[:, None] * tr
        q2 = p2 >> r if r > 0 else p2 << -r
        d = (q2 * tr) << a1                                   # the c2 part of c1's product, per code
        lo = np.where(lo0[rows] <= -_BIG, -_INF, lo0[rows] - d)
        hi = np.where(hi0[rows] >= _BIG, _INF, hi0[rows] - d)
        Ts = Tsm[rows] - d * 2.0 ** -s
        c0, c1, ok = _core(dom, tr, Ts, mask[rows], lo, hi, a0, a1, s, b0, b1)
        C0[rows[ok]], C1[rows[ok]], C2[rows[ok]] = c0[ok], c1[ok], c2[ok]
        done[rows[ok]] = True
    if not done.all():
        return None
    return _fill(1 << k, segs, C0, C1, C2)


def _bits(values) -> int:
    """Fewest signed bits holding every value (at least 2, the spec's minimum)."""
    v = np.asarray(values, np.int64)
    lo, hi = int(v.min()), int(v.max())
    return max(2, max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length()) + 1)


def _fracs(dom: _Domain, k: int) -> tuple[int, int]:
    """Generous fractional bits of (c0, c1) at k: one coefficient step costs 2^-GUARD output LSB."""
    m = dom.x.bits - k
    return dom.y.frac + GUARD, dom.y.frac - dom.x.frac + m + GUARD


def _fracs2(dom: _Domain, k: int) -> tuple[int, int, int]:
    """Degree 2: generous fractional bits of (c0, c1, c2) at k (one step of c2
    moves the output by 2^-GUARD LSB at the segment's last offset)."""
    m = dom.x.bits - k
    f0, f1 = _fracs(dom, k)
    return f0, f1, dom.y.frac + 2 * (m - dom.x.frac) + GUARD


def _spec(func, dom: _Domain, k: int, f0: int, f1: int, C0, C1, b0=None, b1=None, f2=None, C2=None,
          b2=None) -> Spec:
    b0, b1 = b0 or _bits(C0), b1 or _bits(C1)
    cols = (Coeffs(Fixed(b0, True, f0), tuple(int(v) for v in C0)),
            Coeffs(Fixed(b1, True, f1), tuple(int(v) for v in C1)))
    if C2 is not None:
        cols += (Coeffs(Fixed(b2 or _bits(C2), True, f2), tuple(int(v) for v in C2)),)
    real = getattr(dom, "real", dom)            # a folded domain: the unit's input is the signed one
    return Spec(func.name, 1 << k, real.x, (), None, None, dom.y, {}, impl="poly", coefficients=cols,
                fold=getattr(dom, "fold", None))


def metrics(spec: Spec, dom: _Domain) -> dict:
    """DESIGN.md "Accuracy metrics" of a poly spec on the domain; ``mse_fp``:
    the coefficients' real polynomial ``c0 2^-f0 + c1 2^-f1 (u - x_seg)`` (degree
    2: ``+ c2 2^-f2 (u - x_seg)^2``) on the 0.01 grid of the range (no input or output rounding)."""
    y = poly_model.evaluate(spec, dom.q)
    ylsb = dom.y.to_real(y)
    t = dom.T * 2.0 ** -dom.y.frac
    err = ylsb - t
    err_lsb = np.abs(y - dom.T)
    lo, hi = dom.range
    u = np.arange(lo, hi, 0.01)
    x = dom.x
    k = spec.entries.bit_length() - 1
    code = np.clip(np.floor(u * 2.0 ** x.frac), x.min_code, x.max_code).astype(np.int64)
    uu = u
    if spec.fold is not None:                   # the real polynomial of the magnitude, then the fold
        x = poly_model.half(x)
        code, uu = poly_model.magnitude(code, spec.input), np.abs(u)
    seg, _ = poly_model.split(code, x, k)
    x_seg = x.to_real(x.min_code + (seg << (x.bits - k)))
    c0, c1, *c2 = spec.coefficients
    slope = np.asarray(c1.values, np.float64)[seg] * 2.0 ** -c1.fmt.frac
    if c2:
        slope = slope + np.asarray(c2[0].values, np.float64)[seg] * 2.0 ** -c2[0].fmt.frac * (uu - x_seg)
    val = np.asarray(c0.values, np.float64)[seg] * 2.0 ** -c0.fmt.frac + slope * (uu - x_seg)
    if spec.fold is not None:
        kind, K = spec.fold
        val = np.where(u < 0, K * 2.0 ** -dom.y.frac - val if kind == "odd" else val - uu, val)
    with np.errstate(all="ignore"):
        e_fp = val - dom.func(u)
    w = int(err_lsb.argmax())
    return {"mse_hw": float(np.mean(err * err)), "mse_fp": float(np.mean(e_fp * e_fp)),
            "max_err_lsb": float(err_lsb[w]), "worst_input": float(x.to_real(dom.q[w]))}


def fit_poly(op, fmt: str = "int8", bound_lsb: float = 1.0, rng_range: tuple | None = None,
             entries: int | None = None, degree: int = 1, fold: bool = False, **over) -> Spec:
    """The poly table of ``op`` at ``fmt`` (formats of :func:`fitter.fit.datapath`,
    ``over`` as there; only input and output formats matter): the fewest
    segments (or ``entries``, a power of two) and the narrowest coefficient
    formats with ``max_err_lsb <= bound_lsb`` on every domain code,
    certified. ``degree`` 1 (exact search) or 2 (c2 by least squares, the
    rest exact; see :func:`_solve2`). ``fold``: store the non-negative half
    only, the other through the op's symmetry (:data:`FOLDS`, DESIGN.md).
    Raises :class:`PolyBoundNotMet` when no table meets the bound."""
    from fitter.minimal import certify
    func = _func(op)
    if fmt not in WIDEN:
        raise FitError(f"unknown format '{fmt}' for an integer fit; known: {', '.join(WIDEN)}")
    if not bound_lsb > 0:
        raise FitError(f"max_err_lsb bound {bound_lsb}: must be > 0")
    if degree not in poly_model.DEGREES:
        raise FitError(f"poly degree {degree}: use {' or '.join(map(str, poly_model.DEGREES))}")
    dp = datapath(func, fmt, **over)
    x, y = dp.x, dp.y
    if x.bits > MAX_POLY_BITS:
        raise FitError(f"poly: the fit is certified on every input code: at most {MAX_POLY_BITS} input bits, "
                       f"{fmt} gives {x.label()}")
    rng = tuple(float(v) for v in (rng_range or func.range))
    dom = _Domain(func, x, y, rng, bound_lsb)
    if fold:
        if func.name not in FOLDS:
            raise FitError(f"poly fold: no symmetry known for {func.name} (known: {', '.join(FOLDS)})")
        dom = _fold_domain(dom)
        x = dom.x
    top = min(MAX_POLY_ENTRIES, 1 << (x.bits - 1)).bit_length() - 1
    tried = []
    if entries is not None:
        if entries < 1 or entries & (entries - 1) or entries > 1 << top:
            raise FitError(f"poly entries {entries}: use a power of two 1..{1 << top}")
        ks = [entries.bit_length() - 1]
    else:
        ks = range(0, top + 1)
    if degree == 2:
        return _fit2(func, dom, ks, rng, bound_lsb, entries, certify)
    k = None
    for kk in ks:
        ok = _solve(dom, kk, *_fracs(dom, kk)) is not None
        tried.append({"entries": 1 << kk, "meets": ok, "how": f"generous formats ({GUARD} guard bits)"})
        if ok:
            k = kk
            break
    if k is None:
        raise PolyBoundNotMet(f"{func.name} {fmt}: no poly table of at most {1 << ks[-1]} segments meets "
                              f"{bound_lsb} LSB", )
    g0, g1 = _fracs(dom, k)

    f1 = _least(g1 - GUARD - 6, g1, lambda f: _solve(dom, k, g0, f) is not None)
    best = None
    for f1c in (f1, f1 + 1, f1 + 2):
        f0c = _least(y.frac - 8, g0, lambda f: _solve(dom, k, f, f1c) is not None)
        C0, C1 = _solve(dom, k, f0c, f1c)
        cost = (_bits(C0) + _bits(C1), _bits(C1))
        if best is None or cost < best[0]:
            best = (cost, f0c, f1c, C0, C1)
    _, f0, f1, C0, C1 = best
    b0, b1 = _bits(C0), _bits(C1)
    while b1 > 2 and (r := _solve(dom, k, f0, f1, b0=b0, b1=b1 - 1)) is not None:
        b1, (C0, C1) = b1 - 1, r
    while b0 > 2 and (r := _solve(dom, k, f0, f1, b0=b0 - 1, b1=b1)) is not None:
        b0, (C0, C1) = b0 - 1, r
    spec = _spec(func, dom, k, f0, f1, C0, C1, b0, b1)
    cert = certify(spec, bound_lsb, rng)
    if not cert["certified"]:               # the per-segment test is exact: a failure here is a bug
        raise AssertionError(f"{func.name} {fmt}: poly table fails its certificate: {cert}")
    tried.append({"entries": 1 << k, "meets": True, "how": f"c0 s{b0}.{f0}, c1 s{b1}.{f1}: least fractional "
                  "bits, then least bits"})
    if entries is None and k > 0:
        tried.append({"entries": 1 << (k - 1), "meets": False, "how": "no line per segment at generous formats"})
    spec.fit.update({
        "method": "poly-minimal", "impl": "poly", "degree": 1, "range": list(rng), "objective": "maxerr",
        "rule": "per segment: the (c0, c1) with the widest feasible c0 interval, c0 in its middle",
        "domain": "all codes", "metrics": metrics(spec, getattr(dom, "real", dom)), **_fold_note(dom),
        "minimal": {"bound_lsb": float(bound_lsb), "entries": spec.entries, "impl": "poly",
                    "method": "exact per-segment feasibility (fitter/poly.py)",
                    "widths": {"c0": f"s{b0}.{f0}", "c1": f"s{b1}.{f1}"},
                    "certificate": cert, "tried": tried}})
    return spec


def _least(lo, hi, test):
    """The least f in lo..hi passing ``test`` (``hi`` passes), by bisection: feasibility grows with the
    fractional bits (up to rounding effects, which can only leave a narrower format unfound)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if test(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _fit2(func, dom: _Domain, ks, rng, bound_lsb: float, entries, certify) -> Spec:
    """Degree 2 of :func:`fit_poly`: the fewest segments at generous formats,
    then the fewest fractional bits of c1 (the wide multiplier's operand), of
    c2 and of c0 (also for one more bit of c1, keeping the pair of fewer
    coefficient and ``h`` bits), then the fewest bits of c1 and c0 (c2's are
    its values' own), each step by :func:`_solve2`."""
    x, y = dom.x, dom.y
    tried = []
    k = None
    for kk in ks:
        # a necessary condition first: every real parabola is at least the least-squares one's RMS residual
        # off somewhere, and at the generous formats the output is within 1/2 + 2^-GUARD LSB of one
        rms = float(_parabolas(dom, kk)[1].max())
        if rms > dom.bound + 0.5 + 2.0 ** -GUARD + 1e-9 and kk != ks[-1]:
            tried.append({"entries": 1 << kk, "meets": False, "how": f"least-squares RMS residual {rms:.3g} LSB"})
            continue
        ok = _solve2(dom, kk, *_fracs2(dom, kk)) is not None
        tried.append({"entries": 1 << kk, "meets": ok, "how": f"generous formats ({GUARD} guard bits)"})
        if ok:
            k = kk
            break
    if k is None:
        raise PolyBoundNotMet(f"{func.name} int{x.bits}: no degree-2 poly table of at most {1 << ks[-1]} "
                              f"segments meets {bound_lsb} LSB")
    g0, g1, g2 = _fracs2(dom, k)
    # c1 first: h = c1 + q2 has its format and is the wide multiplier's operand; c2's multiplier is the narrow one
    f1 = _least(g1 - GUARD - 6, g1, lambda f: _solve2(dom, k, g0, f, g2) is not None)
    best = None
    for f1c in (f1, f1 + 1):
        f2c = _least(g2 - GUARD - 8, g2, lambda f: _solve2(dom, k, g0, f1c, f) is not None)
        f0c = _least(y.frac - 8, g0, lambda f: _solve2(dom, k, f, f1c, f2c) is not None)
        C0, C1, C2 = _solve2(dom, k, f0c, f1c, f2c)
        h = max(_bits(C1), _bits(C2) + x.bits - k - (f2c + x.frac - f1c)) + 1
        cost = (_bits(C0) + _bits(C1) + _bits(C2) + h, h)
        if best is None or cost < best[0]:
            best = (cost, f0c, f1c, f2c, C0, C1, C2)
    _, f0, f1, f2, C0, C1, C2 = best
    b0, b1, b2 = _bits(C0), _bits(C1), _bits(C2)
    while b1 > 2 and (r := _solve2(dom, k, f0, f1, f2, b0=b0, b1=b1 - 1, b2=b2)) is not None:
        b1, (C0, C1, C2) = b1 - 1, r
    while b0 > 2 and (r := _solve2(dom, k, f0, f1, f2, b0=b0 - 1, b1=b1, b2=b2)) is not None:
        b0, (C0, C1, C2) = b0 - 1, r
    b2 = _bits(C2)
    spec = _spec(func, dom, k, f0, f1, C0, C1, b0, b1, f2, C2, b2)
    cert = certify(spec, bound_lsb, rng)
    if not cert["certified"]:               # (c0, c1) are exact for the c2 chosen: a failure here is a bug
        raise AssertionError(f"{func.name} int{x.bits}: degree-2 poly table fails its certificate: {cert}")
    tried.append({"entries": 1 << k, "meets": True, "how": f"c0 s{b0}.{f0}, c1 s{b1}.{f1}, c2 s{b2}.{f2}: least "
                  "fractional bits, then least bits"})
    if entries is None and k > 0:
        tried.append({"entries": 1 << (k - 1), "meets": False,
                      "how": "no parabola per segment at generous formats (c2 by least squares)"})
    spec.fit.update({
        "method": "poly-minimal", "impl": "poly", "degree": 2, "range": list(rng), "objective": "maxerr",
        "rule": "per segment: c2 from the least-squares parabola, rounded (then +-1..3 where that fails); "
                "with it the (c0, c1) with the widest feasible c0 interval, c0 in its middle",
        "domain": "all codes", "metrics": metrics(spec, getattr(dom, "real", dom)), **_fold_note(dom),
        "minimal": {"bound_lsb": float(bound_lsb), "entries": spec.entries, "impl": "poly",
                    "method": "c2 heuristic, (c0, c1) exact per-segment feasibility (fitter/poly.py)",
                    "widths": {"c0": f"s{b0}.{f0}", "c1": f"s{b1}.{f1}", "c2": f"s{b2}.{f2}"},
                    "certificate": cert, "tried": tried}})
    return spec
