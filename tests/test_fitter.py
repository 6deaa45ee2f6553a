"""The GQA-LUT fitter: determinism, round trip, metrics, beating uniform tables."""

import subprocess
import sys

import numpy as np
import pytest

from fitter import functions
from fitter.build import ensure_spec
from fitter.fit import datapath, fit
from fitter.ga import GAConfig
from fitter.problem import Problem
from hw.pwl_int.model import evaluate
from hw.spec import Spec

OPS = list(functions.FUNCTIONS)


def fitter_cli(*args):
    return subprocess.run([sys.executable, "-m", "fitter", *args], capture_output=True, text=True)


def test_same_seed_same_spec_bytes(tmp_path):
    outs = []
    for run in ("a", "b"):
        r = fitter_cli("fit", "gelu", "--seed", "7", "--generations", "60", "-q", "--build", str(tmp_path / run))
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / run / "gelu_int8_e8" / "spec.json").read_bytes())
    assert outs[0] == outs[1]
    r = fitter_cli("fit", "gelu", "--seed", "8", "--generations", "60", "-q", "--build", str(tmp_path / "c"))
    assert (tmp_path / "c" / "gelu_int8_e8" / "spec.json").read_bytes() != outs[0]


@pytest.mark.parametrize("op", OPS)
def test_ga_beats_uniform_and_metrics_hold(op, build_dir):
    spec, path, _ = ensure_spec(op, "int8", 8, build_dir, quiet=True)
    uni, _ = fit(op, 8, method="uniform")
    assert spec.fit["metrics"]["mse_hw"] < uni.fit["metrics"]["mse_hw"]
    # the spec round-trips and its metrics are the golden model's
    again = Spec.load(path)
    assert again == spec
    func = functions.get(op)
    prob = Problem(func, *func.range, datapath(func), 8)
    y = evaluate(spec, prob.q) * 2.0 ** -spec.output.frac
    assert spec.fit["metrics"]["mse_hw"] == pytest.approx(float(np.mean((y - func(prob.x)) ** 2)), rel=1e-12)
    assert (path.parent / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_definitions_by_hand():
    # a 1-entry table y = x on gelu: mse_fp is the float protocol on arange(lo, hi, 0.01)
    func = functions.get("gelu")
    prob = Problem(func, -4.0, 4.0, datapath(func), 1)
    K = np.array([64]); C = np.array([0])              # slope 1.0, intercept 0 (frac 6)
    m = prob.metrics(np.zeros(0, np.int64), K, C)
    xf = np.arange(-4.0, 4.0, 0.01)
    assert m["mse_fp"] == pytest.approx(np.mean((xf - func(xf)) ** 2), rel=1e-12)
    q = np.arange(-128, 128)
    assert m["max_err_lsb"] == pytest.approx(np.max(np.abs(q - func(q / 32.0) * 32)), rel=1e-12)


def test_elitism_keeps_best_monotone():
    func = functions.get("gelu")
    prob = Problem(func, -4.0, 4.0, datapath(func), 8)
    scores = []
    for g in (5, 20, 80):
        *_, s = __import__("fitter.ga", fromlist=["run_ga"]).run_ga(prob, GAConfig(generations=g, quiet=True, round_prob=0.05))
        scores.append(s)
    assert scores[0] >= scores[1] >= scores[2]


def test_range_option_and_errors(tmp_path):
    r = fitter_cli("fit", "gelu", "--range", "-2", "2", "--generations", "10", "-q", "--build", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert Spec.load(tmp_path / "gelu_int8_e8" / "spec.json").fit["range"] == [-2.0, 2.0]
    for args, words in ((["fit", "nosuchop"], "known ops: gelu"),
                        (["fit", "gelu", "--range", "3", "1"], "empty"),
                        (["fit", "gelu", "--entries", "0"], "out of range"),
                        (["gen", "gelu,bogus"], "unknown op")):
        r = fitter_cli(*args, "--build", str(tmp_path / "x"))
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
