"""Softmax and LayerNorm: golden-model behaviour and a bench that can fail."""

import json
import shutil

import numpy as np
import pytest

from fitter.build import build_unit
from fitter.composite import rowwise_model
from hw.rowwise import model_from_dir
from sim.units import UnitReq, verify


@pytest.fixture(scope="module")
def softmax(build_dir):
    return rowwise_model("softmax", 16, build_dir)[0]


@pytest.fixture(scope="module")
def layernorm(build_dir):
    return rowwise_model("layernorm", 16, build_dir)[0]


def test_softmax_special_rows(softmax):
    y, ov = softmax.row([5])
    assert list(y) == [255] and not ov                       # p = 1.0 saturates to 255/256
    y, _ = softmax.row([12] * 16)
    assert len(set(y)) == 1 and abs(int(y[0]) - 16) <= 1     # 1/16 = 16/256
    y, ov = softmax.row(list(range(-64, 70)))                # 134 > ROW_MAX = 128
    assert ov and len(y) == 128


def test_softmax_matches_float_on_typical_rows(softmax):
    rng = np.random.default_rng(5)
    errs = []
    for _ in range(300):
        x = np.clip(np.round(rng.normal(0, 16, rng.integers(1, 129))), -128, 127).astype(int)
        y, _ = softmax.row(x)
        errs.append(np.abs(y - softmax.reference(x)).max())
    assert np.mean(errs) < 1.5 and max(errs) < 6


def test_layernorm_identical_rows_give_zero(layernorm):
    for v in (-128, -7, 0, 127):
        assert not layernorm.row([v] * layernorm.row_len).any()


def test_layernorm_matches_float(layernorm):
    rng = np.random.default_rng(6)
    for _ in range(200):
        x = np.clip(np.round(rng.normal(rng.normal(0, 20), rng.uniform(2, 40), layernorm.row_len)), -128, 127)
        ref = np.clip(layernorm.reference(x), layernorm.out.min_code, layernorm.out.max_code)
        assert np.abs(layernorm.row(x) - ref).max() <= 1.5


def test_model_from_dir_matches_generator_parameters(build_dir):
    out = build_unit("softmax", entries=8, build=build_dir)
    md = model_from_dir(out)
    assert md.row_max == json.loads((out / "manifest.json").read_text())["parameters"]["row_max"]


@pytest.mark.parametrize("op,table", [("softmax", "exp"), ("layernorm", "rsqrt")])
def test_bench_fails_on_wrong_table(op, table, build_dir, tmp_path):
    """RTL from the true tables, golden model from a table with one wrong
    intercept: the bench must report mismatching rows."""
    out = build_unit(op, entries=8, build=build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    f = bad / f"{table}.spec.json"
    doc = json.loads(f.read_text())
    doc["intercepts"]["values"][-1] -= 1 << max(doc["intercepts"]["frac"] - 3, 0)   # 1/8 lower
    f.write_text(json.dumps(doc))
    r = verify(UnitReq(op), tmp_path, unit_dir=bad)
    assert r.mismatches > 0 and not r.ok, r.line()
