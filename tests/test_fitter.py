"""The GQA-LUT fitter: determinism, round trip, metrics, beating uniform tables."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fitter import functions
from flow.build import ensure_spec
from flow.config import Elementwise, FitOptions
from fitter.fit import datapath, fit
from fitter.ga import GAConfig
from fitter.problem import Problem
from hw.pwl_int.model import evaluate
from hw.spec import Spec

OPS = list(functions.FUNCTIONS)


def fitter_cli(*args):
    return subprocess.run([sys.executable, "-m", "flow", *args], capture_output=True, text=True)


def _spec_path(r) -> Path:
    """The spec file `fit` printed (first word of its line)."""
    return Path(r.stdout.split()[0])


def test_same_seed_same_spec_bytes(tmp_path):
    outs = []
    for run in ("a", "b"):
        r = fitter_cli("fit", "gelu", "--seed", "7", "--generations", "60", "-q", "--build", str(tmp_path / run))
        assert r.returncode == 0, r.stderr
        outs.append(_spec_path(r).read_bytes())
    assert outs[0] == outs[1]
    r = fitter_cli("fit", "gelu", "--seed", "8", "--generations", "60", "-q", "--build", str(tmp_path / "c"))
    assert _spec_path(r).read_bytes() != outs[0]


def test_non_default_options_get_their_own_directory(tmp_path):
    """Two fits of one op/format/size with different options must not
    overwrite each other; the defaults keep the plain name."""
    from flow.config import FIT_DEFAULTS
    assert FitOptions().variant_tag() == ""
    assert FitOptions(**{k: v for k, v in FIT_DEFAULTS.items()}).variant_tag() == ""
    a = FitOptions(in_frac=2, objective="fp").variant_tag()
    b = FitOptions(in_frac=3, objective="fp").variant_tag()
    assert a.startswith("_v") and len(a) == 8 and a != b
    r1 = fitter_cli("gen", "gelu", "--generations", "10", "-q", "--build", str(tmp_path))
    r2 = fitter_cli("gen", "gelu", "--seed", "3", "--generations", "10", "-q", "--build", str(tmp_path))
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    u1, u2 = Path(r1.stdout.split()[0]), Path(r2.stdout.split()[0])
    assert u1.name == Elementwise("gelu", fit=FitOptions(generations=10)).name
    assert u1 != u2 and (u1 / "spec.json").is_file() and (u2 / "spec.json").is_file()
    assert json.loads((u2 / "manifest.json").read_text())["top"] == "gqa_" + u2.name


@pytest.mark.parametrize("op", OPS)
def test_ga_beats_uniform_and_metrics_hold(op, build_dir):
    spec, path, _ = ensure_spec(Elementwise(op), build_dir)
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
    assert Spec.load(_spec_path(r)).fit["range"] == [-2.0, 2.0]
    for args, words in ((["fit", "nosuchop"], "known ops: gelu"),
                        (["fit", "gelu", "--range", "3", "1"], "empty"),
                        (["fit", "gelu", "--entries", "0"], "out of range"),
                        (["gen", "gelu,bogus"], "unknown op")):
        r = fitter_cli(*args, "--build", str(tmp_path / "x"))
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
