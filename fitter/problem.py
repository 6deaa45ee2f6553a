"""One fitting problem: a function, a range and the four number formats.

Holds the domain (input codes inside the range), the float targets, and the
vectorized pieces every search method shares: breakpoint decoding,
coefficient derivation (chord and least squares), scoring through the
hardware golden model, and the metrics of DESIGN.md, "Accuracy metrics".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from hw.pwl_int.model import Datapath, count_le, pwl_int, segment

#: Inputs wider than this are scored on an even sample of this many codes.
MAX_DOMAIN_CODES = 1 << 16
#: Objectives: mean squared error through the golden model (hw), of the float
#: line on the 0.01 grid (fp), hw weighted by 1/f^2 (rel), and the largest
#: golden-model error in output LSBs (maxerr, the ``max_err_lsb`` metric).
OBJECTIVES = ("hw", "fp", "rel", "maxerr")


class FitError(ValueError):
    pass


@dataclass
class Problem:
    func: object            # fitter.functions.Function (or any callable)
    lo: float
    hi: float
    dp: Datapath
    entries: int
    #: give a segment of one code a line with f's local slope where slope 0 fails it (the last
    #: segment's chord; an intercept that does not fit): see coeffs_chord and coeffs_lsq. The
    #: searches (the GA's scoring, the exact search's candidate lines) run on :meth:`as_searched`,
    #: with this off as in every earlier version, so that they, and every fitted table that needs
    #: no such line, are reproduced bit for bit; a table's final lines are derived with it on.
    one_code_lines: bool = True

    def __post_init__(self):
        x = self.dp.x
        if not self.lo < self.hi:
            raise FitError(f"range [{self.lo}, {self.hi}] is empty: need LO < HI")
        qlo = max(x.min_code, int(np.ceil(self.lo * 2.0 ** x.frac)))
        qhi = min(x.max_code, int(np.floor(self.hi * 2.0 ** x.frac)))
        n_codes = qhi - qlo + 1
        if n_codes < self.entries:
            raise FitError(
                f"range [{self.lo}, {self.hi}] holds {max(n_codes, 0)} codes of input format "
                f"{x.label()} ({x.to_real(x.min_code)}..{x.to_real(x.max_code)}); "
                f"need at least entries = {self.entries}: widen --range or change --in-frac")
        self.qlo, self.qhi = qlo, qhi
        self.sampled = n_codes > MAX_DOMAIN_CODES + 1
        if self.sampled:
            self.q = np.unique(np.round(np.linspace(qlo, qhi, MAX_DOMAIN_CODES + 1)).astype(np.int64))
        else:
            self.q = np.arange(qlo, qhi + 1, dtype=np.int64)
        self.x = x.to_real(self.q)
        self.t = self.func(self.x)
        # Relative-error weights (objective "rel"): 1/t^2, floored at one
        # output LSB so that zeros of f do not dominate.
        self.w_rel = 1.0 / np.maximum(np.abs(self.t), self.dp.y.lsb) ** 2
        # prefix sums for per-segment (weighted) least squares; index i: sum over q[:i]
        xs, ts = self.x, self.t
        self._ps = {}
        for name, w in (("hw", np.ones_like(xs)), ("rel", self.w_rel)):
            self._ps[name] = np.stack([np.concatenate([[0.0], np.cumsum(v)]) for v in
                                       (w, w * xs, w * xs * xs, w * ts, w * xs * ts)])
        self.xf = np.arange(self.lo, self.hi, 0.01)
        self.tf = self.func(self.xf)
        xf, tf = self.xf, self.tf
        self._grid_ps = np.stack([np.concatenate([[0.0], np.cumsum(v)]) for v in
                                  (np.ones_like(xf), xf, xf * xf, tf, xf * tf, tf * tf)])

    def as_searched(self) -> "Problem":
        """This problem as the searches score it (``one_code_lines`` off; shares the arrays)."""
        p = copy.copy(self)
        p.one_code_lines = False
        return p

    # -- breakpoints ---------------------------------------------------------
    def decode(self, genes: np.ndarray) -> np.ndarray:
        """Breakpoints in x units (P, N-1) -> strictly increasing input codes
        inside (qlo, qhi], so that every segment holds at least one code."""
        genes = np.atleast_2d(genes)
        n = genes.shape[-1]
        idx = np.arange(n)
        p = np.floor(genes * 2.0 ** self.dp.x.frac + 0.5)
        p = np.clip(p, self.qlo + 1, self.qhi).astype(np.int64)
        p = np.maximum.accumulate(p - idx, axis=-1) + idx              # p_j >= p_{j-1} + 1
        return np.minimum(p, self.qhi - (n - 1 - idx))                  # stay <= qhi

    def _bounds(self, bps: np.ndarray):
        """Start index in ``self.q`` of every segment, (P, N+1) with the end."""
        starts = np.searchsorted(self.q, bps)            # first sample >= breakpoint
        P = bps.shape[0]
        return np.concatenate([np.zeros((P, 1), np.int64), starts,
                               np.full((P, 1), len(self.q), np.int64)], axis=1)

    # -- coefficients --------------------------------------------------------
    def coeffs_lsq(self, bps: np.ndarray, weighted: bool = False):
        """Per-segment least squares (weighted by ``w_rel`` if ``weighted``),
        slope quantized, then the intercept refitted for the quantized slope
        and quantized."""
        b = self._bounds(bps)
        g = self._ps["rel" if weighted else "hw"][:, b]          # one gather for all five sums
        K, C = self._lsq_from_sums(*(g[..., 1:] - g[..., :-1]))
        # A segment of one code fixes no slope; slope 0 is kept unless its intercept (the whole
        # value) does not fit the intercept format, where the chord's line (f's local slope
        # through the code) is taken instead: it passes through the same point.
        if not self.one_code_lines:
            return K, C
        c = (g[3, ..., 1:] - g[3, ..., :-1]) / np.maximum(g[0, ..., 1:] - g[0, ..., :-1], 1e-300)
        one = (b[:, 1:] - b[:, :-1] == 1) & ((c > self.dp.c.to_real(self.dp.c.max_code))
                                            | (c < self.dp.c.to_real(self.dp.c.min_code)))
        if one.any():
            Kc, Cc = self.coeffs_chord(bps)
            K, C = np.where(one, Kc, K), np.where(one, Cc, C)
        return K, C

    def _lsq_from_sums(self, n, sx, sxx, sy, sxy):
        n = np.maximum(n, 1e-300)
        den = n * sxx - sx * sx
        k = np.divide(n * sxy - sx * sy, den, out=np.zeros_like(den), where=den > 1e-12 * n * sxx)
        K = self.dp.k.quantize(k)
        c = (sy - self.dp.k.to_real(K) * sx) / n
        return K, self.dp.c.quantize(c)

    def coeffs_chord(self, bps: np.ndarray):
        """The paper's chord rule: the line through f at both segment ends."""
        P = bps.shape[0]
        ends = np.concatenate([np.full((P, 1), self.q[0]), bps, np.full((P, 1), self.q[-1])], axis=1)
        left, right = self.dp.x.to_real(ends[:, :-1]), self.dp.x.to_real(ends[:, 1:])
        if self.sampled:
            fl, fr = self.func(left), self.func(right)
        else:                       # every end is a domain code: f is already tabulated
            f = self.t[ends - self.qlo]
            fl, fr = f[:, :-1], f[:, 1:]
        width = right - left
        k = np.divide(fr - fl, width, out=np.zeros_like(width), where=width > 0)
        # The last segment ends at the domain's last code, the others at the next segment's first
        # code, so a last segment of one code has no width and its chord no slope: slope 0 put
        # the whole value into the intercept, which saturates where |f| exceeds the intercept
        # format (gelu int8, 256 entries: 63 LSB off at the top code). Such a chord takes the
        # next code as its right end, like every other segment, so its slope is f's local slope.
        one = width <= 0
        if self.one_code_lines and one.any():
            step = self.dp.x.lsb
            k[one] = (self.func(left[one] + step) - fl[one]) / step
        K = self.dp.k.quantize(k)
        return K, self.dp.c.quantize(fl - self.dp.k.to_real(K) * left)

    def coeffs(self, bps: np.ndarray, rule: str = "auto", objective: str = "hw"):
        """Coefficients for breakpoint codes ``bps`` (P, N-1) by ``rule``
        (chord, lsq, or auto: per segment the better of the two under
        ``objective``: hw, fp, rel = hw weighted by 1/f^2, or maxerr)."""
        lsq = self.coeffs_lsq(bps, weighted=objective == "rel")
        if rule == "lsq":
            return lsq
        if rule == "chord":
            return self.coeffs_chord(bps)
        return self.coeffs_scored(bps, objective)[:2]

    def coeffs_scored(self, bps: np.ndarray, objective: str = "hw"):
        """Rule ``auto``: per segment the better of least squares and chord,
        and the score of the resulting table. Segments do not interact (a
        code's output depends only on its own segment's line), so the score
        is the sum of the chosen per-segment errors, each from the golden model."""
        cands = [None if objective == "fp" else self.coeffs_lsq(bps, weighted=objective == "rel"),
                 self.coeffs_chord(bps)]
        if objective == "fp":
            # the fp objective lives on the 0.01 grid: fit the lines there too,
            # and score both candidates from the same grid sums
            sums = self._fp_sums(bps)
            cands[0] = self._lsq_from_sums(*sums[:5])
            errs = [self._fp_errors(sums, K, C) for K, C in cands]
        else:
            errs = [self.segment_errors(bps, K, C, objective) for K, C in cands]
        pick = errs[1] < errs[0]
        best = np.where(pick, errs[1], errs[0])
        n_points = len(self.xf) if objective == "fp" else len(self.q)
        return (np.where(pick, cands[1][0], cands[0][0]), np.where(pick, cands[1][1], cands[0][1]),
                best.max(axis=-1) if objective == "maxerr" else best.sum(axis=-1) / n_points)

    # -- scoring -------------------------------------------------------------
    def hw_out(self, bps, K, C, seg=None) -> np.ndarray:
        """Golden-model output codes over the domain, (P, M)."""
        return pwl_int(self.q, bps, K, C, self.dp, seg)

    def _fp_segments(self, bps) -> np.ndarray:
        """Segment of every point of the 0.01 grid, (P, M')."""
        return count_le(self.xf, self.dp.x.to_real(np.atleast_2d(bps)))

    def fp_out(self, bps, K, C) -> np.ndarray:
        """The float PWL of the dequantized table on the 0.01 grid, (P, M')."""
        seg = self._fp_segments(bps)
        k = np.take_along_axis(self.dp.k.to_real(K), seg, -1)
        c = np.take_along_axis(self.dp.c.to_real(C), seg, -1)
        return k * self.xf + c

    def err_lsb(self, y) -> np.ndarray:
        """``|y - t * 2^f_y|``: the error in output LSBs of golden-model output
        codes ``y`` (..., M) at the domain codes (the ``max_err_lsb`` metric's)."""
        return np.abs(y - self.t * 2.0 ** self.dp.y.frac)

    def sq_errors(self, bps, K, C, objective: str):
        """Squared error per point and the segment of each point (maxerr:
        the squared hw errors, whose maximum is the maxerr objective's)."""
        if objective in ("hw", "rel", "maxerr"):
            seg = segment(self.q, bps)
            err = self.dp.y.to_real(self.hw_out(bps, K, C, seg)) - self.t
            if objective == "rel":
                err = err * np.sqrt(self.w_rel)
        else:
            err = self.fp_out(bps, K, C) - self.tf
            seg = self._fp_segments(bps)
        return err * err, np.broadcast_to(seg, err.shape)

    def segment_errors(self, bps, K, C, objective: str) -> np.ndarray:
        """Sum of squared errors per segment, (P, N).

        For ``fp`` (a float line on the 0.01 grid) the sum is expanded,
        sum (k x + c - t)^2 = k^2 Sxx + 2kc Sx + c^2 n - 2k Sxt - 2c St + Stt,
        from prefix sums over the grid: O(N) per table instead of O(grid),
        equal to the direct sum up to float rounding. ``hw`` and ``rel``
        always go through the golden model. ``maxerr``: the largest error
        per segment in output LSBs (0 for a segment without domain codes)."""
        if objective == "fp":
            return self._fp_errors(self._fp_sums(bps), K, C)
        if objective == "maxerr":
            e = self.err_lsb(self.hw_out(bps, K, C))
            P, M, N = e.shape[0], e.shape[-1], np.shape(K)[-1]
            b = np.broadcast_to(self._bounds(np.atleast_2d(np.asarray(bps, np.int64))), (P, N + 1))
            starts = (b[:, :-1] + M * np.arange(P)[:, None]).ravel()     # runs are contiguous codes
            flat = np.concatenate([e.ravel(), [0.0]])                  # errors >= 0: the sentinel is inert
            out = np.maximum.reduceat(flat, starts).reshape(P, N)
            return np.where(b[:, 1:] > b[:, :-1], out, 0.0)
        e2, seg = self.sq_errors(bps, K, C, objective)
        P, N = e2.shape[0], K.shape[-1]
        flat = (seg + N * np.arange(P)[:, None]).ravel()
        return np.bincount(flat, weights=e2.ravel(), minlength=P * N).reshape(P, N)

    def _fp_sums(self, bps) -> np.ndarray:
        """Grid sums (n, Sx, Sxx, St, Sxt, Stt) per segment, (6, P, N)."""
        starts = np.searchsorted(self.xf, self.dp.x.to_real(np.atleast_2d(bps)), side="left")
        P = starts.shape[0]
        b = np.concatenate([np.zeros((P, 1), np.int64), starts,
                            np.full((P, 1), len(self.xf), np.int64)], axis=1)
        g = self._grid_ps[:, b]
        return g[..., 1:] - g[..., :-1]

    def _fp_errors(self, sums, K, C) -> np.ndarray:
        n, sx, sxx, st, sxt, stt = sums
        k, c = self.dp.k.to_real(K), self.dp.c.to_real(C)
        return np.maximum(k * k * sxx + 2 * k * c * sx + c * c * n - 2 * k * sxt - 2 * c * st + stt, 0.0)

    def score(self, bps, K, C, objective: str = "hw") -> np.ndarray:
        """Mean squared error per individual under ``objective`` (hw, fp or
        rel); for maxerr the largest error in output LSBs."""
        if objective == "maxerr":
            return self.err_lsb(self.hw_out(bps, K, C)).max(axis=-1)
        e2, _ = self.sq_errors(bps, K, C, objective)
        return e2.mean(axis=-1)

    def metrics(self, bps, K, C) -> dict:
        """The metrics (DESIGN.md, "Accuracy metrics") of one table (1-D arrays)."""
        bps, K, C = (np.atleast_2d(a) for a in (bps, K, C))
        y = self.hw_out(bps, K, C)[0]             # one golden-model run serves both hw metrics
        err_lsb = self.err_lsb(y)
        err = self.dp.y.to_real(y) - self.t
        return {"mse_hw": float(np.mean(err * err)),
                "mse_fp": float(self.score(bps, K, C, "fp")[0]),
                "max_err_lsb": float(err_lsb.max()),
                "worst_input": float(self.x[int(err_lsb.argmax())])}
