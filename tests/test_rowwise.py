"""Softmax and LayerNorm: golden-model behaviour and a bench that can fail."""

import json
import shutil

import numpy as np
import pytest

from flow.build import build as build_unit
from flow.build import rowwise_model
from flow.config import parse_fixed
from hw.layernorm.config import LayerNorm
from hw.softmax.config import Softmax
from hw.rowwise import model_from_dir
from sim.units import verify
from tests.helpers import check_rows

CONFIGS = {"softmax": Softmax, "layernorm": LayerNorm}


def test_softmax_special_rows(softmax):
    y, ov = softmax.stream_row([5], [True])
    assert list(y) == [255] and not ov                       # p = 1.0 saturates to 255/256
    y = softmax.row([12] * 16)
    assert len(set(y)) == 1 and abs(int(y[0]) - 16) <= 1     # 1/16 = 16/256
    x = list(range(-64, 70))                                 # 134 > ROW_MAX = 128
    y, ov = softmax.stream_row(x, [j == len(x) - 1 for j in range(len(x))])
    assert ov and len(y) == 128 and (y == softmax.row(x)).all()


def test_softmax_matches_float_on_typical_rows(softmax):
    rng = np.random.default_rng(5)
    errs = []
    for _ in range(300):
        x = np.clip(np.round(rng.normal(0, 16, rng.integers(1, 129))), -128, 127).astype(int)
        y = softmax.row(x)
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
    out = build_unit(Softmax(8), build_dir)
    md = model_from_dir(out)
    assert md.row_max == json.loads((out / "manifest.json").read_text())["parameters"]["row_max"]


@pytest.mark.parametrize("op,table", [("softmax", "exp"), ("layernorm", "rsqrt")])
def test_bench_fails_on_wrong_table(op, table, build_dir, tmp_path):
    """RTL from the true tables, golden model from a table with one wrong
    intercept: the bench must report mismatching rows."""
    out = build_unit(CONFIGS[op](8), build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    f = bad / f"{table}.spec.json"
    doc = json.loads(f.read_text())
    doc["intercepts"]["values"][-1] -= 1 << max(doc["intercepts"]["frac"] - 3, 0)   # 1/8 lower
    f.write_text(json.dumps(doc))
    r = verify(CONFIGS[op](), tmp_path, unit_dir=bad)
    assert r.mismatches > 0 and not r.ok, r.line()


# -- double buffering, gamma/beta, wide I/O ---------------------------------------------

import dataclasses                                      # noqa: E402

from flow.cli import main as fitter_main                # noqa: E402
from hw.layernorm.batch import rows as ln_rows          # noqa: E402

WIDE = dict(input=parse_fixed("s16.8", "in"), out=parse_fixed("s16.13", "out"))


def _random_params(md, rng):
    gf, bf = md.gamma_fmt, md.beta_fmt
    return (rng.integers(gf.min_code, gf.max_code + 1, md.row_len),
            rng.integers(bf.min_code, bf.max_code + 1, md.row_len))


def test_layernorm_affine_model(build_dir):
    """gamma 1, beta 0 is the plain unit; random tables: batch == row, and
    within 1.5 LSB of float LayerNorm with the same (quantized) gamma/beta."""
    md, _ = rowwise_model(LayerNorm(8, affine=True), build_dir)
    plain = dataclasses.replace(md, gamma=None, beta=None)
    rng = np.random.default_rng(7)
    x = np.clip(np.round(rng.normal(rng.normal(0, 20, (40, 1)), rng.uniform(2, 40, (40, 1)), (40, 64))), -128, 127)
    assert (ln_rows(md, x) == ln_rows(plain, x)).all()
    md2 = md.with_params(*_random_params(md, rng))
    assert (ln_rows(md2, x) == np.array([md2.row(r) for r in x])).all()
    for r in x:
        ref = np.clip(md2.reference(r), md2.out.min_code, md2.out.max_code)
        assert np.abs(md2.row(r) - ref).max() <= 1.5
    with pytest.raises(ValueError, match="finer than the output"):
        dataclasses.replace(md, beta_fmt=parse_fixed("s8.6", "beta"))


def test_rowwise_names_are_distinct(build_dir):
    names = [c.name for c in (
        LayerNorm(8), LayerNorm(8, 32), LayerNorm(8, affine=True), LayerNorm(8, **WIDE),
        LayerNorm(8, **{**WIDE, "rsqrt": "int8", "out": parse_fixed("s16.7", "out")}),
        LayerNorm(8, out=parse_fixed("s8.6", "out")), LayerNorm(8, eps=1e-12),
        LayerNorm(8, affine=True, gamma=(64,) * 63 + (65,), beta=(0,) * 64))]
    assert names[0] == "layernorm_int8_e8" and len(set(names)) == len(names), names


@pytest.mark.parametrize("args,msg", [
    (["--ln-in", "s16"], "not a signed format"), (["--ln-out", "s40.8"], "out of range"),
    (["--ln-in", "u8.4"], "not a signed format"), (["--ln-out", "s8.9"], "fewer"),
    (["--ln-affine", "--ln-beta", "s8.7"], "finer than the output"), (["--row", "1"], "out of range"),
    (["--ln-params", "/nonexistent.json"], "no such file"), (["--ln-gamma", "s8.5"], "need --ln-affine")])
def test_gen_rejects_bad_layernorm_options(args, msg, tmp_path, capsys):
    assert fitter_main(["gen", "layernorm", "-q", "--build", str(tmp_path / "b")] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and msg in err and "\n" not in err
    assert not (tmp_path / "b").exists()


def test_gen_rejects_out_of_range_params(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"gamma": [1.0] * 63 + [2.5]}))
    assert fitter_main(["gen", "layernorm", "-q", "--build", str(tmp_path / "b"), "--ln-params", str(f)]) == 2
    assert "gamma[63] = 2.5 is outside s8.6" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def param_file(tmp_path_factory):
    rng = np.random.default_rng(11)
    f = tmp_path_factory.mktemp("lnparams") / "params.npy"
    np.save(f, np.stack([rng.uniform(-1.9, 1.9, 64), rng.uniform(-3.9, 3.9, 64)]))
    return f


@pytest.mark.parametrize("kind", ["affine", "affine-init-file", "io16", "neg-frac"])
def test_layernorm_variants_bit_exact(kind, build_dir, param_file):
    """Through the bench: full-rate throughput (n clocks per row), random gaps
    with back-pressure, and for affine units the generated tables and random
    ones written through cfg_*; every output bit for bit."""
    ln = {"affine": dict(affine=True), "io16": WIDE,
          "affine-init-file": dict(affine=True, params=param_file),
          # a calibrated scale of a wide-ranged tensor: codes in steps of 2
          "neg-frac": dict(input=parse_fixed("s8.-1", "in"), out=parse_fixed("s8.3", "out"))}[kind]
    out = build_unit(LayerNorm(8, **ln), build_dir)
    man = json.loads((out / "manifest.json").read_text())
    assert man["timing"]["cycles_per_row"] == [1, 0]
    if kind == "io16":
        assert out.name == "layernorm_int16_e8_i16f8_o16f13" and man["formats"]["output"]["bits"] == 16
    if kind == "neg-frac":
        assert out.name == "layernorm_int8_e8_i8fm1_o8f3" and man["formats"]["input"]["frac"] == -1
    if kind == "affine-init-file":
        assert len(set(man["parameters"]["gamma"])) > 10
    r = verify(LayerNorm(), build_dir, unit_dir=out)
    assert r.ok, r.line()
    assert r.detail["timing"] == {"64": {"cycles_per_row": [64], "last_in_to_first_out": 2}}
    assert r.detail["rows"] >= (38 if "affine" in kind else 22)


def test_bench_fails_on_gamma_one_lsb_off(build_dir, tmp_path):
    """RTL with the generated gamma, golden model with gamma_0 one LSB higher."""
    out = build_unit(LayerNorm(8, affine=True), build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    man = json.loads((bad / "manifest.json").read_text())
    man["parameters"]["gamma"][0] += 1
    (bad / "manifest.json").write_text(json.dumps(man))
    r = verify(LayerNorm(), tmp_path, unit_dir=bad)
    assert r.mismatches > 0 and not r.ok, r.line()


def test_bench_fails_on_wrong_documented_throughput(build_dir, tmp_path):
    """The bench checks the manifest's clocks per row exactly: claim one less."""
    out = build_unit(Softmax(8), build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    man = json.loads((bad / "manifest.json").read_text())
    assert man["timing"]["cycles_per_row"] == [1, 1]
    man["timing"]["cycles_per_row"] = [1, 0]
    (bad / "manifest.json").write_text(json.dumps(man))
    r = verify(Softmax(), tmp_path, unit_dir=bad)
    assert r.mismatches == 0 and r.failed == 1 and not r.ok, r.line()


# -- one row buffer (ROW_BUFFERS=1): same unit code, half the row memory ----------------

from hw.gen import generate_rowwise                                         # noqa: E402
from hw.rowwise import unit_module                                          # noqa: E402


def timing(op: str, row_buffers: int, md=None) -> dict:
    """The clocks per row the op's unit module states (its describe())."""
    return unit_module(op).describe(md or _Any(), row_buffers)["timing"]


class _Any:
    """Stands in for a model where only the timing is asked for."""
    row_max = row_len = 64
    eps = 1e-5
    eps_code = 0
    affine = False

    class rsqrt:
        format_name = "int8"


@pytest.mark.parametrize("op", ["softmax", "layernorm"])
def test_single_buffer_unit_bit_exact(op, build_dir):
    """Through the bench: every output bit for bit, and the clocks per row
    measured at full rate equal to the manifest's (softmax 2n + 2, layernorm
    n + 2) with the idle latency unchanged."""
    out = build_unit(CONFIGS[op](8, row_buffers=1), build_dir)
    man = json.loads((out / "manifest.json").read_text())
    assert out.name == f"{op}_int8_e8_b1" and man["top"] == f"gqa_{op}_int8_e8_b1"
    assert man["parameters"]["row_buffers"] == 1
    assert {k: v for k, v in man["timing"].items() if k != "note"} == timing(op, 1)
    depth = 128 if op == "softmax" else 64                       # n, not 2n
    assert f"\\buf  [{depth - 1}:0]" in (out / man["verilog"][0]).read_text()
    r = verify(CONFIGS[op](), build_dir, unit_dir=out)
    assert r.ok, r.line()
    want = ({"5": {"cycles_per_row": [12], "last_in_to_first_out": 7},
             "37": {"cycles_per_row": [76], "last_in_to_first_out": 39}} if op == "softmax"
            else {"64": {"cycles_per_row": [66], "last_in_to_first_out": 2}})
    assert r.detail["timing"] == want


@pytest.mark.parametrize("frac", [1, 6])
def test_softmax_score_format_bit_exact(frac, build_dir):
    """SM_IN_FRAC: scores s8.F with the exp table fitted over [-2^(7-F), 0];
    through the bench, every output bit for bit against the golden model."""
    out = build_unit(Softmax(8, in_frac=frac), build_dir)
    man = json.loads((out / "manifest.json").read_text())
    assert out.name == f"softmax_int8_e8_i8f{frac}" and man["formats"]["input"]["frac"] == frac
    md = model_from_dir(out)
    assert md.exp.input.frac == frac and md.exp.fit["range"] == [-(2.0 ** (7 - frac)), 0.0]
    r = verify(Softmax(), build_dir, unit_dir=out)
    assert r.ok, r.line()


@pytest.mark.parametrize("op", ["softmax", "layernorm"])
def test_default_build_has_two_buffers_unchanged(op, build_dir, tmp_path):
    """The default is the double-buffered unit as it was: no suffix, no
    row_buffers entry, the two-buffer timing and memory, and the same bytes
    as an explicit row_buffers=2."""
    out = build_unit(CONFIGS[op](8), build_dir)
    man = json.loads((out / "manifest.json").read_text())
    assert out.name == f"{op}_int8_e8" and "_b1" not in man["top"] and "row_buffers" not in man["parameters"]
    assert {k: v for k, v in man["timing"].items() if k != "note"} == timing(op, 2)
    assert man["timing"]["cycles_per_row"] == ([1, 1] if op == "softmax" else [1, 0])
    text = (out / man["verilog"][0]).read_text()
    if op == "softmax":                                         # one memory per buffer, two exp tables
        assert "buf0 [127:0]" in text and "buf1 [127:0]" in text and ".exp_sum" in text
    else:
        assert "\\buf  [127:0]" in text
    assert "wbank" in text
    cfg = CONFIGS[op](8)
    md, tabs = rowwise_model(cfg, build_dir)
    generate_rowwise(op, md, tmp_path, cfg.top, tabs, 2, {"request": cfg.request(),
                                                          "regenerate": cfg.make_line("handoff")})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in out.iterdir() if p.is_file())
    for f in tmp_path.iterdir():
        assert f.read_bytes() == (out / f.name).read_bytes(), f.name
    assert CONFIGS[op](8, row_buffers=2).name == out.name
    assert CONFIGS[op](8, row_buffers=1).name == out.name + "_b1"
    with pytest.raises(ValueError, match="use 1 or 2"):
        CONFIGS[op](8, row_buffers=3)


@pytest.mark.parametrize("args,msg", [
    (["softmax", "--row-buffers", "3"], "--row-buffers 3 is out of range: use 1 or 2"),
    (["layernorm", "--row-buffers", "0"], "--row-buffers 0 is out of range: use 1 or 2"),
    (["gelu", "--row-buffers", "1"], "--row-buffers applies to softmax, layernorm and rmsnorm only"),
    (["softmax", "--sm-in-frac", "8"], "--sm-in-frac 8 is out of range: use 0..7 (scores s8.F)"),
    (["gelu,layernorm", "--sm-in-frac", "2"], "--sm-in-frac applies to softmax only")])
def test_gen_rejects_bad_row_buffers(args, msg, tmp_path, capsys):
    assert fitter_main(["gen", "-q", "--build", str(tmp_path / "b")] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {msg}"
    assert not (tmp_path / "b").exists()


# -- softmax: two exp tables, rows loaded behind the output (Amaranth's simulator) -------

import random                                           # noqa: E402


def _simulate_softmax(md, row_buffers, rows, gap=lambda cyc: False, ready=lambda cyc: True):
    """Run the softmax unit on ``rows`` in Amaranth's simulator: ``gap(cyc)``
    drops in_valid, ``ready(cyc)`` drives out_ready. Returns per row its
    outputs [(code, overflow)], and the clocks of its last input and last
    output transfers."""
    from amaranth.sim import Simulator

    from hw.softmax.unit import SoftmaxUnit
    dut = SoftmaxUnit(md, row_buffers)
    stream = [(v, j == len(r) - 1, i) for i, r in enumerate(rows) for j, v in enumerate(r)]
    got, t_in, t_out = [[] for _ in rows], {}, {}

    async def bench(ctx):
        k = cyc = row = 0
        while row < len(rows) and cyc < 50 * len(stream) + 1000:
            valid = k < len(stream) and not gap(cyc)
            ctx.set(dut.in_valid, int(valid))
            if k < len(stream):
                ctx.set(dut.in_data, int(stream[k][0]))
                ctx.set(dut.in_last, int(stream[k][1]))
            ctx.set(dut.out_ready, int(ready(cyc)))
            if valid and ctx.get(dut.in_ready):
                t_in[stream[k][2]] = cyc
                k += 1
            if ctx.get(dut.out_valid) and ctx.get(dut.out_ready):
                got[row].append((ctx.get(dut.out_data), ctx.get(dut.out_overflow)))
                if ctx.get(dut.out_last):
                    t_out[row] = cyc
                    row += 1
            await ctx.tick()
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, t_in, t_out


@pytest.mark.parametrize("row_buffers", [2, 1])
def test_softmax_rate_from_the_first_row_down_to_n_1(softmax, row_buffers):
    """At full rate the clocks per row equal the manifest's formula (n + 1
    with two buffers, 2n + 2 with one) from the first row on, for short rows
    too (the bench measures n = 5 and 37 on the Verilog)."""
    a, b = timing("softmax", row_buffers)["cycles_per_row"]
    for n in (1, 2, 3, 16):
        rows = [[(37 * i + 11 * j) % 256 - 128 for j in range(n)] for i in range(6)]
        got, t_in, t_out = _simulate_softmax(softmax, row_buffers, rows)
        check_rows(softmax, rows, got)
        assert {t_out[i] - t_out[i - 1] for i in range(1, len(rows))} == {a * n + b}, n
        assert t_out[0] - n + 1 - t_in[0] == n + 2                  # first output n + 2 after the last input


@pytest.mark.parametrize("row_buffers", [2, 1])
def test_softmax_rows_load_behind_the_output(softmax, row_buffers):
    """A short row loads into the buffer of a long row that is still being
    output (stalled by out_ready): written behind the output, its in_last is
    taken before that row's last output and the row is handed on after it.
    Then random rows (ROW_MAX 16, overflowing rows included) with random
    gaps and back-pressure. Every output against the golden model."""
    rng = random.Random(3)
    rows = [[rng.randint(-128, 127) for _ in range(40)], [5, -3, 9], [-60, 2], [12] * 40, [1]]
    got, t_in, t_out = _simulate_softmax(softmax, row_buffers, rows, ready=lambda cyc: not 100 <= cyc < 200)
    check_rows(softmax, rows, got)
    assert t_in[row_buffers] < t_out[0]                          # row 0's buffer, the next row in it
    md = dataclasses.replace(softmax, row_max=16)
    rows = [[rng.randint(-128, 127) if rng.random() < 0.3 else max(-128, min(127, round(rng.gauss(0, 16))))
             for _ in range(rng.choice([1, 2, 3, rng.randint(1, 16), 16, rng.randint(17, 20)]))]
            for _ in range(300)]
    rates = [(0.0, 0.0), (0.3, 0.3), (0.0, 0.7), (0.7, 0.0), (0.3, 0.95)]
    pick = lambda cyc, i: rates[(cyc // 37) % len(rates)][i] > rng.random()   # noqa: E731
    got, _, _ = _simulate_softmax(md, row_buffers, rows, gap=lambda c: pick(c, 0), ready=lambda c: not pick(c, 1))
    check_rows(md, rows, got)
