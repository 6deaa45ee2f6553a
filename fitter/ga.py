"""The GQA-LUT genetic search over breakpoints (DAC 2024), vectorized.

A chromosome is the N-1 breakpoints in x units. Slopes and intercepts are
derived per candidate (:meth:`Problem.coeffs`), quantized, and the candidate
is scored by the hardware golden model over every input code
(``objective="hw"``, quantization-aware), by the reference protocol's
``mse_fp`` (``objective="fp"``), or by the largest golden-model error in
output LSBs (``objective="maxerr"``, the ``max_err_lsb`` metric; the auto
rule then keeps per segment the line with the smaller max error).

Operators follow the paper: tournament selection (size 3), two-point
crossover (p = 0.7), Gaussian mutation (p = 0.2 per individual, each gene
moved with probability 1/2 by N(0, sigma) in x units), and the rounding
mutation, which snaps each gene of a chosen individual (probability
``round_prob``) to the grid 2^-j, j drawn from ``round_grids``. Elitism is
on: the best individual of a generation is copied unchanged into the next.
Every random draw comes from one ``numpy.random.Generator`` seeded with
``seed``, so a fixed seed gives the same table bit for bit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from fitter.problem import Problem


@dataclass
class GAConfig:
    population: int = 50
    generations: int = 500
    tournament: int = 3
    cx_prob: float = 0.7
    mut_prob: float = 0.2
    mut_sigma: float = 0.2
    mut_gene_prob: float = 0.5
    round_prob: float | None = None     # None: the op's Table 1 value
    round_grids: tuple = (0, 1, 2, 3, 4, 5)
    elitism: bool = True
    rule: str = "auto"
    objective: str = "hw"
    seed: int = 0
    progress_every: int = 50
    quiet: bool = False
    log: object = field(default=sys.stderr, repr=False)

    def describe(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items() if k not in ("log", "quiet", "progress_every")}


def _evaluate(prob: Problem, genes: np.ndarray, cfg: GAConfig):
    bps = prob.decode(genes)
    if cfg.rule == "auto":
        K, C, score = prob.coeffs_scored(bps, cfg.objective)
        return score, bps, K, C
    K, C = prob.coeffs(bps, cfg.rule, cfg.objective)
    return prob.score(bps, K, C, cfg.objective), bps, K, C


def run_ga(prob: Problem, cfg: GAConfig, search: tuple | None = None):
    """Run the search; returns (bps, K, C) of the best table (1-D arrays)
    and its score."""
    # candidates are scored as every earlier version scored them (Problem.one_code_lines off), so
    # the search is reproduced bit for bit; the caller derives the final table's lines with it on
    prob = prob.as_searched()
    rng = np.random.default_rng(cfg.seed)
    lo, hi = search if search else (prob.lo, prob.hi)
    P, G, n = cfg.population, cfg.generations, prob.entries - 1
    if n == 0:                        # one segment: nothing to search
        bps = np.zeros((1, 0), np.int64)
        K, C = prob.coeffs(bps, cfg.rule, cfg.objective)
        return bps[0], K[0], C[0], float(prob.score(bps, K, C, cfg.objective)[0])
    pop = np.sort(rng.uniform(lo, hi, (P, n)), axis=1)
    fit, *_ = _evaluate(prob, pop, cfg)
    rows = np.arange(P)
    for g in range(1, G + 1):
        # tournament selection
        cand = rng.integers(0, P, (P, cfg.tournament))
        off = pop[cand[rows, np.argmin(fit[cand], axis=1)]].copy()
        # two-point crossover on consecutive pairs
        half = P // 2
        do_cx = rng.random(half) < cfg.cx_prob
        if n > 1:
            cuts = np.sort(rng.integers(0, n + 1, (half, 2)), axis=1)
            pos = np.arange(n)
            swap = do_cx[:, None] & (pos >= cuts[:, :1]) & (pos < cuts[:, 1:])
            a, b = off[0:2 * half:2], off[1:2 * half:2]
            a2, b2 = np.where(swap, b, a), np.where(swap, a, b)
            off[0:2 * half:2], off[1:2 * half:2] = a2, b2
        # Gaussian mutation
        mut = (rng.random(P) < cfg.mut_prob)[:, None] & (rng.random((P, n)) < cfg.mut_gene_prob)
        off += np.where(mut, rng.normal(0.0, cfg.mut_sigma, (P, n)), 0.0)
        # rounding mutation: snap to a power-of-two grid
        if cfg.round_prob > 0:
            rmut = (rng.random(P) < cfg.round_prob)[:, None] & (rng.random((P, n)) < 0.5)
            step = 2.0 ** -np.asarray(cfg.round_grids, dtype=np.float64)[
                rng.integers(0, len(cfg.round_grids), (P, 1))]
            off = np.where(rmut, np.round(off / step) * step, off)
        off = np.sort(np.clip(off, lo, hi), axis=1)
        new_fit, *_ = _evaluate(prob, off, cfg)
        if cfg.elitism:
            best = int(np.argmin(fit))
            worst = int(np.argmax(new_fit))
            off[worst], new_fit[worst] = pop[best], fit[best]
        pop, fit = off, new_fit
        if not cfg.quiet and cfg.progress_every and (g % cfg.progress_every == 0 or g == G):
            what = "max_err_lsb" if cfg.objective == "maxerr" else f"mse_{cfg.objective}"
            print(f"  gen {g:4d}/{G}  best {what} {fit.min():.3e}", file=cfg.log, flush=True)
    best = int(np.argmin(fit))
    score, bps, K, C = _evaluate(prob, pop[best:best + 1], cfg)
    return bps[0], K[0], C[0], float(score[0])
