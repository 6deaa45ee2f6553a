"""A valid user spec packages whatever its optional ``fit`` block holds
(issue 21): without ``fit`` the handoff datasheet ended in ``error:
unexpected ValueError: Unknown format code 'g'`` (it formatted the missing
range); a ``fit.range`` that is not two numbers lo < hi ended in an
unexpected ValueError while measuring the table."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest

from fitter import functions
from fitter.fit import spec_metrics
from hw.spec import Spec
from tests.helpers import GOOD, make, unit_of

NOFIT = {k: v for k, v in GOOD.items() if k != "fit"}


def _gen(tmp_path, doc) -> tuple:
    (tmp_path / "mine.json").write_text(json.dumps(doc))
    r = make(["gen", "SPEC=mine.json", "BUILD=b"], tmp_path)
    assert r.returncode == 0 and "error" not in r.stderr, r.stderr
    unit = tmp_path / unit_of(r.stdout)
    return unit, (unit / "handoff" / "DATASHEET.md").read_text()


def test_spec_without_fit_packages(tmp_path):
    unit, ds = _gen(tmp_path, NOFIT)
    assert (unit / "handoff" / "manifest.json").is_file()
    m = json.loads((unit / "spec.json").read_text())["fit"]["metrics"]     # measured on the op's own range
    assert f"Error: at most {m['max_err_lsb']:.4g} LSB" in ds and "the op's default input range" in ds
    assert f"`mse_hw` = {m['mse_hw']:.6g}" in ds
    if shutil.which("iverilog"):
        r = subprocess.run(["sh", "run_tb.sh", "icarus"], cwd=unit / "handoff", capture_output=True, text=True)
        assert r.returncode == 0 and "PASS 256 vectors" in r.stdout, r.stdout + r.stderr


def test_unknown_op_without_fit_packages(tmp_path):
    _, ds = _gen(tmp_path, {**NOFIT, "op": "my_op"})
    assert "No accuracy metrics in the spec" in ds and "no float reference for op 'my_op'" in ds


@pytest.mark.parametrize("rng", ["wide", [1, 2, 3], [2.0, -2.0], [True, 1], ["a", 1], [1, "b"], {"lo": -1}, None])
def test_unusable_fit_range_is_the_ops_range(tmp_path, rng):
    """spec_metrics measures on the op's range; the datasheet says so."""
    doc = copy.deepcopy(NOFIT)
    doc["fit"] = {"range": rng}
    spec = Spec.from_json(doc)
    lo, hi = functions.get("gelu").range
    want = spec_metrics(Spec.from_json({**NOFIT, "fit": {"range": [lo, hi]}}))
    assert spec_metrics(spec) == want
    if rng == "wide":                            # one through make gen: it packages
        _, ds = _gen(tmp_path, doc)
        assert "the op's default input range" in ds


def test_usable_fit_range_is_used(tmp_path):
    _, ds = _gen(tmp_path, {**NOFIT, "fit": {"range": [-2, 2]}})
    assert "of [-2, 2]" in ds
