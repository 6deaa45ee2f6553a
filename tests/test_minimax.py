"""Objective maxerr (minimax) and the fewest-entries search (fitter/exact.py, fitter/minimax.py, fitter/minimal.py; issue 13)."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from fitter import functions
from fitter.exact import fit_exact, segment_costs
from fitter.minimax import fewest_segments, line_within, minimax_line
from fitter.fit import datapath, fit
from fitter.ga import GAConfig
from fitter.minimal import BoundNotMet, certify, fewest_entries
from fitter.problem import Problem
from hw.fixed import Fixed
from hw.pwl_int.model import evaluate, pwl_int
from hw.spec import Coeffs, Spec


def _prob(op, entries=8, fmt="int8", **over):
    f = functions.get(op)
    return Problem(f, *f.range, datapath(f, fmt, **over), entries)


def _max_err(spec, prob):
    """max_err_lsb recomputed with the golden model over every domain code."""
    return float(np.abs(evaluate(spec, prob.q) - prob.t * 2.0 ** prob.dp.y.frac).max())


@pytest.mark.parametrize("op", ["gelu", "exp", "reciprocal"])
def test_maxerr_never_worse_than_hw_objective(op):
    # maxerr's candidate lines hold every hw candidate, and its DP minimizes
    # the max over every segmentation: it cannot lose on max_err_lsb
    prob = _prob(op)
    ex_hw = fit_exact(prob, "hw")
    ex_mx = fit_exact(prob, "maxerr")
    e_hw = prob.metrics(ex_hw.bps, ex_hw.K, ex_hw.C)["max_err_lsb"]
    m = prob.metrics(ex_mx.bps, ex_mx.K, ex_mx.C)
    assert m["max_err_lsb"] <= e_hw
    assert ex_mx.cost == m["max_err_lsb"]                 # the DP's value is the golden model's, exactly
    assert "minimax segmentation" in ex_mx.info["optimality"]
    # through fit(): same table, fit block names the objective
    spec, p = fit(op, 8, method="exact", ga=GAConfig(objective="maxerr"))
    assert spec.fit["objective"] == "maxerr" and spec.fit["metrics"]["max_err_lsb"] == m["max_err_lsb"]
    assert _max_err(spec, p) == m["max_err_lsb"]


def test_maxerr_dp_is_exact_for_its_candidates_on_a_tiny_problem():
    """4-bit input, 3 entries: every breakpoint pair, each run's best
    candidate from segment_costs -- the DP's min-max is the brute-force one."""
    f = replace(functions.get("gelu"), input=Fixed(4, True, 2), slopes=Fixed(8, True, 6), intercepts=Fixed(8, True, 6))
    prob = Problem(f, -2.0, 1.75, datapath(f), 3)
    I, J, cost, *_ = segment_costs(prob, "maxerr")
    run = {(int(i), int(j)): float(c) for i, j, c in zip(I, J, cost)}
    M = len(prob.q)
    best = min(max(run[(0, a)], run[(a, b)], run[(b, M)]) for a, b in itertools.combinations(range(1, M), 2))
    assert fit_exact(prob, "maxerr").cost == best


def test_ga_and_uniform_accept_maxerr():
    ga, p = fit("gelu", 8, method="ga", ga=GAConfig(objective="maxerr", generations=20, quiet=True))
    uni, _ = fit("gelu", 8, method="uniform", ga=GAConfig(objective="maxerr"))
    for s in (ga, uni):
        assert s.fit["objective"] == "maxerr" and s.fit["metrics"]["max_err_lsb"] == _max_err(s, p)


def test_minimax_line_is_the_global_minimax_line():
    # every (K, C) of the 8-bit formats through the golden model, on a few runs
    prob = _prob("gelu", 1)
    dp = prob.dp
    K, C = (a.ravel() for a in np.meshgrid(np.arange(dp.k.min_code, dp.k.max_code + 1),
                                           np.arange(dp.c.min_code, dp.c.max_code + 1), indexing="ij"))
    E = prob.err_lsb(pwl_int(prob.q, np.zeros((len(K), 0), np.int64), K[:, None], C[:, None], dp))
    for i, j in ((0, 256), (10, 40), (100, 101), (120, 200), (200, 256)):
        per_line = E[:, i:j].max(axis=1)
        k, c, e = minimax_line(prob, i, j)
        assert e == per_line.min() == per_line[(K == k) & (C == c)][0]
        assert line_within(prob, i, j, e) is not None and line_within(prob, i, j, e - 1e-9) is None


def test_fewest_entries_gelu_int8_bound_1():
    spec, tried = fewest_entries("gelu", "int8", 1.0)
    prob = _prob("gelu", spec.entries)
    assert _max_err(spec, prob) <= 1.0
    assert spec.fit["minimal"]["certificate"]["certified"] is True
    assert spec.fit["metrics"]["max_err_lsb"] == _max_err(spec, prob)
    # entries - 1 fails: by the greedy's optimality, and the maxerr DP's best table there is above the bound
    assert any(t["entries"] == spec.entries - 1 and not t["meets"] for t in tried)
    below = fit_exact(_prob("gelu", spec.entries - 1), "maxerr")
    assert below.cost > 1.0
    # the greedy's count agrees with the DP's curve: the first size whose DP value meets the bound
    dp_curve = {t["entries"]: t["max_err_lsb"] for t in tried if t["how"].startswith("exact maxerr DP")}
    assert min(n for n, e in dp_curve.items() if e <= 1.0) == spec.entries


def test_fewest_segments_is_optimal_on_a_tiny_problem():
    """5-bit input: the least number of runs, each with some (K, C) of the
    6-bit formats within B (brute force over every line), equals the greedy's."""
    f = replace(functions.get("gelu"), input=Fixed(5, True, 2), slopes=Fixed(6, True, 4), intercepts=Fixed(6, True, 4))
    prob = Problem(f, -4.0, 3.75, datapath(f), 1)
    dp, M = prob.dp, len(prob.q)
    K, C = (a.ravel() for a in np.meshgrid(np.arange(dp.k.min_code, dp.k.max_code + 1),
                                           np.arange(dp.c.min_code, dp.c.max_code + 1), indexing="ij"))
    E = prob.err_lsb(pwl_int(prob.q, np.zeros((len(K), 0), np.int64), K[:, None], C[:, None], dp))
    for B in (0.75, 1.0, 1.5, 3.0):
        ok = {(i, j): bool((E[:, i:j].max(axis=1) <= B).any()) for i in range(M) for j in range(i + 1, M + 1)}
        need = [0] + [np.inf] * M
        for j in range(1, M + 1):
            need[j] = min([need[i] + 1 for i in range(j) if ok[(i, j)]], default=np.inf)
        starts, Ks, Cs, n = fewest_segments(prob, B, 64)
        assert (n if n is not None else np.inf) == need[M], B
        if starts is not None:
            y = pwl_int(prob.q, prob.q[starts[1:-1]], Ks, Cs, dp)
            assert prob.err_lsb(y).max() <= B


def test_fewest_entries_uniform_and_int16(tmp_path):
    spec, tried = fewest_entries("gelu", "int8", 1.0, impl="uniform")
    assert spec.impl == "uniform" and spec.fit["minimal"]["certificate"]["certified"]
    assert [t["entries"] for t in tried] == [2 ** k for k in range(1, len(tried) + 1)]
    assert all(not t["meets"] for t in tried[:-1]) and tried[-1]["meets"]
    s16, t16 = fewest_entries("gelu", "int16", 1.0)
    assert s16.input.bits == 16 and s16.fit["minimal"]["certificate"]["codes"] == 65536
    assert s16.fit["minimal"]["certificate"]["max_err_lsb"] <= 1.0
    assert any(t["entries"] == s16.entries - 1 and not t["meets"] for t in t16)
    s16.save(tmp_path / "spec.json")                     # a valid spec, the record JSON-clean
    back = Spec.load(tmp_path / "spec.json")
    assert back.arrays()[0].tolist() == s16.arrays()[0].tolist() and certify(back, 1.0)["certified"]


def test_unreachable_bound_is_reported():
    # reciprocal's default formats: at x = 3 every output is a multiple of 4 LSB away from the next
    with pytest.raises(BoundNotMet, match="x = 3.0.*4 LSB apart"):
        fewest_entries("reciprocal", "int8", 1.0)


def test_certificate_catches_a_corrupted_table():
    spec, _ = fewest_entries("gelu", "int8", 1.0)
    assert certify(spec, 1.0)["certified"] is True
    bps, K, C = spec.arrays()
    seg = int(np.searchsorted(bps, spec.fit["metrics"]["worst_input"] * 2 ** spec.input.frac, side="right"))
    bad_c = [int(v) for v in C]
    bad_c[seg] += 8                                       # 8 intercept codes = 4 output LSBs here
    bad = Spec(spec.op, spec.entries, spec.input, spec.breakpoints, spec.slopes,
               Coeffs(spec.intercepts.fmt, tuple(bad_c)), spec.output, dict(spec.fit))
    cert = certify(bad, 1.0)
    assert cert["certified"] is False and cert["max_err_lsb"] > 2.0
    # and the certificate is the golden model's own number
    prob = _prob("gelu", spec.entries)
    assert cert["max_err_lsb"] == _max_err(bad, prob)
