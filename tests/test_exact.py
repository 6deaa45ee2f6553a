"""Method ``exact`` (fitter/exact.py): optimality, determinism, limits, multi-scale fits."""

import itertools
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from fitter import functions
from fitter.exact import MAX_EXACT_CODES, certify, fit_exact, segment_costs
from fitter.fit import datapath, fit
from fitter.ga import GAConfig
from fitter.problem import FitError, Problem
from hw.fixed import Fixed
from hw.pwl_int.model import pwl_int
from hw.spec import Spec

GA_QUICK = GAConfig(generations=60, quiet=True)


def fitter_cli(*args):
    return subprocess.run([sys.executable, "-m", "flow", *args], capture_output=True, text=True)


@pytest.mark.parametrize("op", ["gelu", "exp", "reciprocal"])
def test_exact_never_worse_than_ga_and_uniform(op):
    # exact's candidate lines include the GA's own (lsq and chord) for every
    # run of codes and its DP considers every segmentation, so it cannot lose
    # on its objective; the slack is float summation order only.
    ex, prob = fit(op, 8, method="exact")
    ga, _ = fit(op, 8, method="ga", ga=GA_QUICK)
    uni, _ = fit(op, 8, method="uniform")
    e = ex.fit["metrics"]["mse_hw"]
    assert e <= ga.fit["metrics"]["mse_hw"] * (1 + 1e-12)
    assert e <= uni.fit["metrics"]["mse_hw"] * (1 + 1e-12)
    # the DP's own cost is the golden model's mse_hw of the table it returns
    res = fit_exact(prob)
    assert res.cost == pytest.approx(e, rel=1e-12)
    y = pwl_int(prob.q, res.bps, res.K, res.C, prob.dp) * 2.0 ** -prob.dp.y.frac
    assert e == pytest.approx(float(np.mean((y - prob.t) ** 2)), rel=1e-12)
    assert ex.fit["method"] == "exact" and "optimal segmentation" in ex.fit["exact"]["optimality"]


def test_exact_fp_objective_never_worse_than_ga_fp():
    ga, _ = fit("gelu", 8, method="ga", ga=replace(GA_QUICK, objective="fp"))
    ex, _ = fit("gelu", 8, method="exact", ga=GAConfig(objective="fp"))
    assert ex.fit["metrics"]["mse_fp"] <= ga.fit["metrics"]["mse_fp"] * (1 + 1e-12)


def _tiny(op, x: Fixed, coef: Fixed, rng):
    f = replace(functions.get(op), input=x, slopes=coef, intercepts=coef)
    return Problem(f, *rng, datapath(f), 3)


TINY = [("gelu", Fixed(4, True, 2), Fixed(8, True, 6), (-2.0, 1.75)),
        ("exp", Fixed(4, True, 1), Fixed(8, True, 6), (-4.0, 0.0)),                 # output saturates at 0
        ("reciprocal", Fixed(4, False, 2), Fixed(8, True, 6), (0.5, 3.75))]         # coefficients saturate


@pytest.mark.parametrize("case", TINY, ids=[c[0] for c in TINY])
def test_brute_force_optimal_on_tiny_problem(case):
    """4-bit input, 3 entries: every breakpoint set, and per segment every
    (K, C) of the 8-bit formats -- the true optimum of mse_hw."""
    prob = _tiny(*case)
    dp, M = prob.dp, len(prob.q)
    Ks, Cs = np.meshgrid(np.arange(dp.k.min_code, dp.k.max_code + 1),
                         np.arange(dp.c.min_code, dp.c.max_code + 1), indexing="ij")
    Ks, Cs = Ks.ravel(), Cs.ravel()
    y = pwl_int(prob.q, np.zeros((len(Ks), 0), np.int64), Ks[:, None], Cs[:, None], dp)
    e2 = (dp.y.to_real(y) - prob.t) ** 2
    pre = np.concatenate([np.zeros((len(Ks), 1)), np.cumsum(e2, axis=1)], axis=1)
    run_best = {(i, j): float((pre[:, j] - pre[:, i]).min()) for i in range(M) for j in range(i + 1, M + 1)}
    # the same runs, scored by exact's candidate sets
    I, J, cost, *_ = segment_costs(prob)
    run_exact = {(int(i), int(j)): float(c) for i, j, c in zip(I, J, cost)}
    best_true = best_cand = np.inf
    for a, b in itertools.combinations(range(1, M), 2):          # breakpoints q[a] < q[b]
        runs = [(0, a), (a, b), (b, M)]
        best_true = min(best_true, sum(run_best[r] for r in runs))
        best_cand = min(best_cand, sum(run_exact[r] for r in runs))
    res = fit_exact(prob)
    # the DP is exact for its candidate sets ...
    assert res.cost * M == pytest.approx(best_cand, rel=1e-12, abs=1e-15)
    # ... and here those sets hold the true optimum
    assert res.cost * M == pytest.approx(best_true, rel=1e-9, abs=1e-15)
    assert prob.score(res.bps[None], res.K[None], res.C[None])[0] * M == pytest.approx(best_true, rel=1e-9, abs=1e-15)


def test_deterministic_and_certified():
    f = functions.get("gelu")
    prob = Problem(f, *f.range, datapath(f), 8)
    a, b = fit_exact(prob), fit_exact(prob)
    for x, y in ((a.bps, b.bps), (a.K, b.K), (a.C, b.C)):
        assert np.array_equal(x, y)
    assert a.cost == b.cost and a.info == b.info
    s1, _ = fit("gelu", 8, method="exact", seed=1)
    s2, _ = fit("gelu", 8, method="exact", seed=2)
    assert s1.arrays()[0].tolist() == s2.arrays()[0].tolist()        # no randomness: the seed is irrelevant
    c = certify(prob, a.bps, a.K, a.C)
    assert c["certified"] is True


def test_wide_inputs_refused_and_wide_formats_keep_int8_breakpoints():
    with pytest.raises(FitError, match=f"limited to {MAX_EXACT_CODES} codes"):
        fit("gelu", 8, method="exact", in_bits=16, in_frac=12)
    s8, _ = fit("gelu", 8, "int8", method="exact")
    s16, p16 = fit("gelu", 8, "int16", method="exact")
    assert (np.array(s16.arrays()[0]) == np.array(s8.arrays()[0]) << 8).all()
    assert "breakpoints given" in s16.fit["exact"]["optimality"]
    # the re-searched lines are at least as good as the GA's rule on the same breakpoints
    bps = np.atleast_2d(s16.arrays()[0])
    K, C = p16.coeffs(bps, "auto", "hw")
    assert s16.fit["metrics"]["mse_hw"] <= p16.score(bps, K, C)[0] * (1 + 1e-12)


def test_multi_scale_cli_writes_one_spec_per_scale(tmp_path):
    r = fitter_cli("fit", "gelu", "--method", "exact", "--frac", "4..6", "-q", "--build", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for j in (4, 5, 6):
        spec = Spec.load(tmp_path / f"gelu_int8_e8_f{j}" / "spec.json")
        assert spec.input.frac == j and spec.fit["method"] == "exact"
        lo, hi = spec.fit["range"]
        assert hi <= spec.input.max_code * 2.0 ** -j               # range shrunk to what the scale holds
    assert not (tmp_path / "gelu_int8_e8").exists()
    before = (tmp_path / "gelu_int8_e8_f6" / "spec.json").read_bytes()
    r = fitter_cli("fit", "gelu", "--method", "exact", "--fracs", "6-6", "-q", "--build", str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "gelu_int8_e8_f6" / "spec.json").read_bytes() == before
    for args, words in ((["--frac", "1..x"], "is not a range"), (["--frac", "2", "--format", "fp32"], "fp32"),
                        (["--frac", "1", "-n", "16", "--method", "uniform"], "--frac 1")):
        r = fitter_cli("fit", "reciprocal", *args, "--build", str(tmp_path / "x"))
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
