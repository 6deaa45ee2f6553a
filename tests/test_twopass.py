"""RMSNorm, the units without a row store (ROW_STORE=none: every op in
two passes; softmax's base-2 arithmetic) and with the row in an SRAM macro
(ROW_STORE=sram: the same units, replaying the row): golden models,
every unit through the cocotb bench bit for bit (every output and flag,
random gaps and back-pressure, clocks per row against the manifest), a
negative test, configuration errors, and RMSNorm against float on real
activation rows when the evaluation extra is installed."""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from flow.build import build as build_unit
from flow.build import rowwise_model, tables
from flow.cli import main as cli
from flow.config import from_request, parse_fixed
from hw.layernorm.config import LayerNorm
from hw.rmsnorm.config import RMSNorm
from hw.softmax.config import Softmax
from hw.softmax.online import log2e
from hw.norm import normalize
from hw.pwl_int.model import evaluate
from sim.units import verify

S16 = dict(input=parse_fixed("s16.8", "i"), out=parse_fixed("s16.13", "o"))

#: besides the default make sim matrix's (sim/units.py: softmax, layernorm and rmsnorm with
#: ROW_STORE=none, rmsnorm with flip-flops; tests/test_sim_matrix.py benches them)
CASES = {
    "layernorm-2pass-affine": LayerNorm(8, affine=True, row_store="none"),
    "rmsnorm-2pass-affine": RMSNorm(8, affine=True, row_store="none"),
    "rmsnorm-ff-affine": RMSNorm(8, affine=True),
    "layernorm-2pass-16bit": LayerNorm(8, row_len=96, row_store="none", **S16),
    "rmsnorm-2pass-16bit": RMSNorm(8, row_len=96, row_store="none", **S16),
    "softmax-2pass-r16-f2": Softmax(8, row_max=16, in_frac=2, row_store="none"),
    # ROW_STORE=sram: the row in the bench's SRAM model (sim/sram.py), streamed once
    "layernorm-sram-16bit": LayerNorm(8, row_len=96, row_store="sram", **S16),
    "rmsnorm-sram-affine": RMSNorm(8, affine=True, row_store="sram"),
    "softmax-sram-r16-f2": Softmax(8, row_max=16, in_frac=2, row_store="sram"),
    # SM_OUT_BITS: wider probabilities, with the tables that follow them (hw/softmax/config.py)
    "softmax-2pass-r16-o12": Softmax(8, row_max=16, out_bits=12, row_store="none"),
    # LANES=P: P elements per transfer, a row length that is not a multiple of P, every lane checked
    "layernorm-2pass-l4-n18": LayerNorm(8, row_len=18, row_store="none", lanes=4),
    "rmsnorm-sram-l16-n40-affine": RMSNorm(8, row_len=40, affine=True, row_store="sram", lanes=16),
    "layernorm-2pass-16bit-l8-affine": LayerNorm(8, row_len=100, affine=True, row_store="none", lanes=8, **S16),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_bit_exact_through_the_bench(kind, build_dir):
    cfg = CASES[kind]
    out = build_unit(cfg, build_dir)
    man = json.loads((out / "manifest.json").read_text())
    none = cfg.row_store == "none"
    passes = 2 if none else 1
    assert (f"_{passes}pass" in out.name) == none and out.name.startswith(cfg.op)
    assert ("_sram" in out.name) == (cfg.row_store == "sram")
    assert out.name.endswith(f"_l{cfg.lanes}") == (cfg.lanes > 1) and man.get("lanes", 1) == cfg.lanes
    assert man["parameters"].get("passes", 1) == passes
    r = verify(cfg, build_dir, unit_dir=out)
    assert r.ok, r.line()
    a, b = man["timing"]["cycles_per_row"]
    assert a == (1 if cfg.row_store == "ff" else 2)    # sram: the unit's passes
    for n, t in r.detail["timing"].items():
        assert t["cycles_per_row"] == [a * int(n) + b]
    if cfg.row_store != "ff":               # no row store, or the SRAM outside: no row memory in the Verilog
        assert "buf" not in (out / man["verilog"][0]).read_text()


def test_two_pass_model_is_the_one_pass_model(build_dir):
    """Identical passes give LayerNorm.row exactly; pass 2 is computed under
    pass 1's statistics; the flags follow DESIGN.md's rule."""
    md, _ = rowwise_model(LayerNorm(8, row_len=16), build_dir)
    rng = np.random.default_rng(1)
    ok = [j == 15 for j in range(16)]
    for _ in range(50):
        x = rng.integers(-128, 128, 16)
        y, flags = md.two_pass(x, ok, x, ok)
        assert (y == md.row(x)).all() and not any(flags)
    x1, x2 = rng.integers(-128, 128, 16), rng.integers(-128, 128, 16)
    y, _ = md.two_pass(x1, ok, x2, ok)
    assert (y == md.apply(md.stats(x1), x2)).all()
    early = [j == 4 for j in range(16)]
    assert md.two_pass(x1, early, x1, ok)[1] == [True] * 16
    assert md.two_pass(x1, ok, x1, early)[1] == [j >= 4 for j in range(16)]


def test_rmsnorm_model_is_layernorm_without_the_mean(build_dir):
    ln, _ = rowwise_model(LayerNorm(8, row_len=32), build_dir)
    rms, _ = rowwise_model(RMSNorm(8, row_len=32), build_dir)
    rng = np.random.default_rng(2)
    for _ in range(30):
        x = rng.integers(-60, 60, 32)
        x = x - int(round(x.mean()))
        if x.sum() == 0:                    # zero mean: the two are the same function, bit for bit
            assert (rms.row(x) == ln.row(x)).all()
        ref = np.clip(rms.reference(x), rms.out.min_code, rms.out.max_code)
        assert np.abs(rms.row(x) - ref).max() <= 1.5
    assert not rms.row([0] * 32).any()


def test_bench_fails_on_one_sram_word_off(build_dir, monkeypatch):
    """A ROW_STORE=sram unit's outputs come through the SRAM: the bench's
    model with one bit of one word flipped on its reads must fail it."""
    cfg = Softmax(8, row_max=16, row_store="sram")
    monkeypatch.setenv("GQA_SRAM_FAULT", "3")
    r = verify(cfg, build_dir)
    assert r.mismatches > 0 and not r.ok, r.line()


@pytest.mark.parametrize("lanes", [1, 4])
def test_bench_fails_on_one_rsqrt_entry_off(lanes, build_dir, tmp_path):
    """RTL with the fitted rsqrt table, golden model with the intercept of the
    segment that random rows use one LSB higher: the bench must fail (one
    lane and four)."""
    cfg = LayerNorm(8, row_store="none", lanes=lanes)
    out = build_unit(cfg, build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    md, _ = rowwise_model(cfg, build_dir)
    rng = np.random.default_rng(0)
    segs = []
    for _ in range(20):                     # the segment of a uniform random row's W
        x = rng.integers(-128, 128, md.row_len)
        n, sx, sxx = md.row_len, int(x.sum()), int((x * x).sum())
        m, _ = normalize(n * sxx - sx * sx + md.eps_code, md.rsqrt.input.frac, step=2)
        segs.append(sum(int(m) >= p for p in md.rsqrt.breakpoints))
    seg = max(set(segs), key=segs.count)
    doc = json.loads((bad / "rsqrt.spec.json").read_text())
    doc["intercepts"]["values"][seg] += 1
    (bad / "rsqrt.spec.json").write_text(json.dumps(doc))
    r = verify(cfg, tmp_path, unit_dir=bad)
    assert r.mismatches > 0 and not r.ok, r.line()


@pytest.mark.parametrize("args,msg", [
    (["softmax", "--row-store", "none", "--row-buffers", "1"], "--row-buffers applies to --row-store ff only"),
    (["layernorm", "--row-store", "none", "--row-buffers", "1"], "--row-buffers applies to --row-store ff only"),
    (["layernorm", "--row-store", "sram", "--row-buffers", "1"], "--row-buffers applies to --row-store ff only"),
    (["layernorm", "--row-store", "dram"], "unknown --row-store 'dram'"),
    (["layernorm", "--lanes", "4"], "--lanes 4 needs --row-store none or sram"),
    (["rmsnorm", "--row-store", "none", "--lanes", "3"], "lanes 3 is not a lane count"),
    (["softmax", "--row-store", "none", "--lanes", "4"], "--lanes 4: the softmax unit has one lane"),
    (["softmax", "--sm-out-bits", "12"], "--sm-out-bits 12: the buffered unit (--row-store ff) outputs u8.8"),
    (["softmax", "--row-store", "none", "--sm-out-bits", "13"], "--sm-out-bits 13 is out of range: use 8..12"),
    (["rmsnorm", "--ln-affine", "--ln-beta", "s8.4"], "--ln-beta does not apply to rmsnorm"),
    (["gelu", "--row-store", "none"], "--row-store applies to softmax, layernorm and rmsnorm only"),
])
def test_bad_options_are_one_line_and_write_nothing(args, msg, tmp_path, capsys):
    assert cli(["gen", "-q", "--build", str(tmp_path / "b")] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and msg in err and "\n" not in err, err
    assert not (tmp_path / "b").exists()


def test_rmsnorm_refuses_beta_values(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"gamma": [1.0] * 16, "beta": [0.5] * 16}))
    assert cli(["gen", "rmsnorm", "-q", "--row", "16", "--ln-params", str(f), "--build", str(tmp_path / "b")]) == 2
    assert "rmsnorm has no beta" in capsys.readouterr().err


@pytest.mark.parametrize("cfg", [RMSNorm(8, 32, row_store="none"), LayerNorm(16, row_store="none"), RMSNorm(8),
                                 Softmax(8, 64, row_store="none"), Softmax(8, row_store="sram"),
                                 RMSNorm(8, 32, affine=True, row_store="sram"),
                                 LayerNorm(8, 18, row_store="sram", lanes=4), RMSNorm(8, row_store="none", lanes=16)])
def test_request_round_trip(cfg):
    req = json.loads(json.dumps(cfg.request()))
    assert ("row_store" in req) == (cfg.row_store != "ff") and ("lanes" in req) == (cfg.lanes > 1)
    back = from_request(req)
    assert back == cfg and back.name == cfg.name and back.make_line() == cfg.make_line()
    assert (f"ROW_STORE={cfg.row_store}" in cfg.make_line()) == (cfg.row_store != "ff")


def test_two_pass_softmax_model(build_dir):
    """Softmax without a row store: identical passes give its row() (an
    over-long row cut and flagged), pass 2 is computed under pass 1's
    statistics, and the flags follow DESIGN.md's rule."""
    md, _ = rowwise_model(Softmax(8, row_max=16, row_store="none"), build_dir)
    rng = np.random.default_rng(3)
    for length in (1, 2, 7, 16, 21):
        x = list(rng.integers(-128, 128, length))
        kept = md.kept(x)
        ok = [j == len(kept) - 1 for j in range(len(kept))]
        y, flags = md.multi_pass([x, kept], [[j == length - 1 for j in range(length)], ok])
        want, ovf = md.stream_row(x, [j == length - 1 for j in range(length)])
        assert (y == want).all() and flags == [ovf] * len(kept) and ovf == (length > 16)
    x1, x2 = list(rng.integers(-128, 128, 8)), list(rng.integers(-128, 128, 8))
    ok, early = [j == 7 for j in range(8)], [j == 2 for j in range(8)]
    assert (md.multi_pass([x1, x2], [ok, ok])[0] == md.outputs(*md.statistics(np.array(x1)), x2)).all()
    assert md.multi_pass([x1, x1], [early, ok])[1] == [False] * 8      # pass 1 ends at its in_last
    assert md.multi_pass([x1, x1], [ok, early])[1] == [j >= 2 for j in range(8)]


@pytest.mark.parametrize("in_frac", [0, 4, 7])
def test_two_pass_softmax_rows_is_row(in_frac, build_dir):
    """The vectorized model (what make dse-model runs on MiniLM) is row() bit for bit, on random,
    wide-ranging and over-long rows."""
    md, _ = rowwise_model(Softmax(8, row_max=32, in_frac=in_frac, row_store="none"), build_dir)
    rng = np.random.default_rng(in_frac)
    for n, scale in ((1, 40), (5, 4), (32, 40), (32, 127), (40, 16)):
        x = np.clip(np.round(rng.normal(0, scale, (25, n))), -128, 127).astype(np.int64)
        y, ovf = md.rows(x)
        assert ovf == (n > 32) and (y == np.array([md.row(r) for r in x])).all()


def test_two_pass_softmax_sum_is_exact_without_rescaling(build_dir):
    """The running sum's only roundings are stated in online.py: with every
    score at the same power of two the sum is the exact sum of the table's
    values, and a growing maximum truncates the old sum by the shift."""
    from hw.softmax.online import OnlineSoftmax
    from hw.spec import Spec
    tabs = tables(Softmax(8, row_max=16, row_store="none"), build_dir)
    exp2 = tabs["exp2"]
    md = OnlineSoftmax(exp2, tabs["log2"], row_max=16, in_frac=4)
    x = [0, 1, 2, 3]                        # t < 1: every a is 0
    a, T = md.terms(x)
    assert list(a) == [0] * 4 and md.statistics(np.array(x)) == (0, int(T.sum()))
    x = [0, 16]                             # 1.0 * log2(e) = 1.44: a = 0, then 1
    a, T = md.terms(x)
    assert list(a) == [0, 1] and md.statistics(np.array(x)) == (1, (int(T[0]) >> 1) + int(T[1]))
    assert log2e() == 5909 and isinstance(exp2, Spec)


@pytest.mark.parametrize("table", ["exp2", "log2"])
def test_bench_fails_on_one_table_entry_off(table, build_dir, tmp_path):
    """RTL with the fitted tables, golden model with one intercept 1/8 lower
    (as test_rowwise's wrong-table test): exp2's segment that most score
    codes use, log2's widest segment (the row sums' mantissas spread over
    [1, 2)); the two-pass softmax's bench must fail."""
    cfg = Softmax(8, row_max=16, row_store="none")
    out = build_unit(cfg, build_dir)
    bad = tmp_path / out.name
    shutil.copytree(out, bad)
    md, _ = rowwise_model(cfg, build_dir)
    spec = getattr(md, table)
    if table == "exp2":
        x = np.arange(md.input.min_code, md.input.max_code + 1)
        f = (x * log2e() & ((1 << md.t_frac) - 1)) >> (md.t_frac - md.exp2.input.frac)
        segs = [sum(int(v) >= p for p in spec.breakpoints) for v in f]
        seg = max(set(segs), key=segs.count)
    else:
        edges = [1 << spec.input.frac, *spec.breakpoints, 2 << spec.input.frac]
        seg = int(np.argmax(np.diff(edges)))
    doc = json.loads((bad / f"{table}.spec.json").read_text())
    doc["intercepts"]["values"][seg] -= 1 << (doc["intercepts"]["frac"] - 3)
    (bad / f"{table}.spec.json").write_text(json.dumps(doc))
    r = verify(cfg, tmp_path, unit_dir=bad)
    assert r.mismatches > 0 and not r.ok, r.line()


def rsqrt_rel_error(md) -> float:
    """The largest relative error of 1/sqrt(W) as the unit forms it: the
    table's own, over every mantissa code, plus the truncation of W to that
    mantissa (at most one code in 2^f_m)."""
    t = md.rsqrt
    m = np.arange(1 << t.input.frac, 4 << t.input.frac)
    true = 1 / np.sqrt(m * 2.0 ** -t.input.frac)
    got = evaluate(t, m) * 2.0 ** -t.output.frac
    return float(np.abs(got / true - 1).max()) + 2.0 ** -(t.input.frac + 1)


def test_rmsnorm_on_real_activation_rows(build_dir):
    """RMSNorm at MiniLM's LayerNorm shape (384 x 16-bit, its eps, the int16
    rsqrt table at 16 entries) on the inputs of MiniLM's LayerNorms (one
    power-of-two input scale, the smallest that holds them), against float
    RMSNorm: every output within 1 LSB plus the rsqrt's relative error bound
    (:func:`rsqrt_rel_error`) of its value; saturation clipped on both sides."""
    pytest.importorskip("safetensors")
    from eval.minilm.model import MiniLM, ModelMissing, Ops
    try:
        model = MiniLM()
    except ModelMissing as e:
        pytest.skip(str(e))
    rows = []

    class Capture(Ops):
        def layernorm(self, x, gamma, beta, eps, site):
            rows.extend(np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]))
            return super().layernorm(x, gamma, beta, eps, site)

    model.embed(["The quick brown fox jumps over the lazy dog.",
                 "Hardware for the non-linear operations of Transformers."], ops=Capture())
    x = np.stack(rows)
    frac = 15 - int(np.ceil(np.log2(np.abs(x).max())))
    md, _ = rowwise_model(RMSNorm(16, row_len=x.shape[1], input=parse_fixed(f"s16.{frac}", "i"),
                                  out=parse_fixed("s16.12", "o"), eps=1e-12, rsqrt="int16"), build_dir)
    rel = rsqrt_rel_error(md)
    codes = np.round(x * 2.0 ** frac)
    worst = 0.0
    for c in codes:
        ref = np.clip(md.reference(c), md.out.min_code, md.out.max_code)
        worst = max(worst, float((np.abs(md.row(c) - ref) / (1 + np.abs(ref) * rel)).max()))
    assert len(codes) > 50 and worst <= 1.0, f"error / bound {worst:.3f} over {len(codes)} rows (rel {rel:.2e})"


# -- the handoff package of each kind without a row store ----------------------------

@pytest.mark.parametrize("cfg", [LayerNorm(8, row_len=16, row_store="none"),
                                 RMSNorm(8, row_len=16, affine=True, row_store="none"),
                                 Softmax(8, row_max=16, row_store="none"),
                                 LayerNorm(8, row_len=16, row_store="sram"),
                                 Softmax(8, row_max=16, row_store="sram"),
                                 RMSNorm(8, row_len=18, affine=True, row_store="sram", lanes=4)],
                         ids=lambda c: c.name)
def test_handoff_verifies_from_an_empty_directory(cfg, build_dir, tmp_path):
    """The package's own bench passes on Icarus (and, for the softmax, on
    Verilator and through FuseSoC's sim target), from a copy in an empty
    directory; one expected output word changed makes it fail."""
    from tests.helpers import corrupt, expected_file, run, verilator_env
    out = build_unit(cfg, build_dir, handoff=True)
    pkg = shutil.copytree(out / "handoff", tmp_path / "pkg")
    man = json.loads((pkg / "manifest.json").read_text())
    r = run(["sh", "run_tb.sh", "icarus"], pkg)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    # Verilator and FuseSoC once (the slow builds): every kind shares the bench template, and the
    # softmax with the SRAM has the one addition (the SRAM model)
    slow = cfg.op == "softmax" and cfg.row_store == "sram"
    env = verilator_env() if slow else None
    if env is not None:
        r = run(["sh", "run_tb.sh", "verilator"], pkg, env)
        assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr
    fusesoc = shutil.which("fusesoc") or str(Path(sys.executable).parent / "fusesoc")
    if slow and Path(fusesoc).is_file():
        xdg = {k: str(tmp_path / "xdg") for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
        r = run([fusesoc, "--cores-root", str(pkg), "run", "--build-root", str(tmp_path / "fs"), "--target", "sim",
                 man["fusesoc"]["vlnv"]], tmp_path, dict(os.environ, **xdg))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    corrupt(expected_file(pkg))
    r = run(["sh", "run_tb.sh", "icarus"], pkg)
    assert r.returncode != 0 and "PASS" not in r.stdout, r.stdout


@pytest.mark.parametrize("bits", [8, 16])
def test_squarer_is_x_times_x_on_every_code(bits):
    """The norms' pass-1 squarer (hw.layernorm.twopass.square) against x * x on every input code."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator

    from hw.layernorm.twopass import square
    x, y = Signal(signed(bits)), Signal(2 * bits)
    m = Module()
    m.d.comb += y.eq(square(x))
    sim, bad = Simulator(m), []

    async def bench(ctx):
        for v in range(-(1 << (bits - 1)), 1 << (bits - 1)):
            ctx.set(x, v)
            if ctx.get(y) != v * v:
                bad.append(v)
    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]
