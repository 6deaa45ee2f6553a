"""``make dse-model`` (eval/dse_model.py): the search on a tiny stub setting
is deterministic and finds what it should, the report has its schema, and
bad options are refused with one ``error:`` line and exit status 2 before
any work. No model run and no synthesis here: the stubs stand for both."""

from __future__ import annotations

import json

import pytest

from eval import dse_model as D

#: a tiny search space: two ops, three knobs
KNOBS = (("a_bits", (16, 12, 8)), ("a_entries", (16, 8)), ("b_bits", (16, 8)))
START = {"a_bits": 16, "a_entries": 16, "b_bits": 16}
AREA = {("a_bits", 16): 100.0, ("a_bits", 12): 70.0, ("a_bits", 8): 40.0, ("a_entries", 16): 20.0,
        ("a_entries", 8): 10.0, ("b_bits", 16): 50.0, ("b_bits", 8): 30.0}


def stub_area(cfg):
    return sum(AREA[(k, v)] for k, v in cfg.items())


def stub_eval(cfg):
    """Cosine falls with narrower widths; top-1 drops once a_bits reaches 8."""
    cos = 1.0 - 0.0002 * (16 - cfg["a_bits"]) / 4 - 0.0001 * (cfg["a_entries"] == 8) - 0.0004 * (cfg["b_bits"] == 8)
    top1 = 0.97 if cfg["a_bits"] == 8 else 1.0
    return {"cos_mean": cos, "cos_min": cos - 0.001, "top1": top1, "n": 8}


def run_stub(target=D.Target(0.999, 0.99), passes=2):
    calls = []

    def ev(cfg):
        calls.append(D.key_of(cfg))
        return stub_eval(cfg)
    res = D.search(dict(START), KNOBS, ev, stub_area, target, passes)
    return res, calls


def test_search_is_deterministic_and_finds_the_smallest_within_target():
    r1, c1 = run_stub()
    r2, c2 = run_stub()
    assert r1.best == r2.best and c1 == c2 and [t["why"] for t in r1.trace] == [t["why"] for t in r2.trace]
    # a_bits 8 loses top-1; b_bits 8 costs 0.0004 of cosine, which with a_bits 12 (0.0002) and e8 (0.0001)
    # still meets 0.999: the smallest configuration within the target
    assert r1.best == {"a_bits": 12, "a_entries": 8, "b_bits": 8}
    assert len(set(c1)) == len(c1), "every configuration is evaluated once"
    assert r1.trace[0]["why"] == "start" and r1.trace[0]["config"] == START


def test_search_keeps_the_start_accuracy_when_the_target_is_out_of_reach():
    def ev(cfg):                        # top-1 of the start 98 %: the 99 % target is out of reach
        m = stub_eval(cfg)
        return {**m, "top1": m["top1"] * 0.98}
    res = D.search(dict(START), KNOBS, ev, stub_area, D.Target(0.999, 0.99), 2)
    assert (res.target.cos, res.target.top1) == (0.999, pytest.approx(0.98))
    assert res.best == {"a_bits": 12, "a_entries": 8, "b_bits": 8}
    res, _ = run_stub(target=D.Target(0.99999, 0.99))
    assert res.best == START, "nothing narrower keeps a cosine of 0.99999"


def test_pareto_and_recommend():
    pts = [{"config": {"x": i}, "area_um2": a, "cos_mean": c, "top1": t}
           for i, (a, c, t) in enumerate([(10, 0.99, 0.9), (20, 0.999, 0.99), (30, 0.998, 0.99), (40, 0.9999, 1.0)])]
    assert [p["config"]["x"] for p in D.pareto(pts)] == [0, 1, 3]
    rec, ok = D.recommend(pts, D.Target(0.999, 0.99))
    assert ok and rec["config"] == {"x": 1}
    rec, ok = D.recommend(pts, D.Target(0.99999, 1.0))
    assert not ok and rec["config"] == {"x": 3}, "none meets it: the closest"


def fake_report():
    res, _ = run_stub()
    target = D.Target(0.999, 0.99)
    cfg = res.best
    confirmed = [{"config": cfg, "label": "stub", "roles": ["search result"], "area_um2": stub_area(cfg),
                  **stub_eval(cfg)}]
    confirmed[0]["meets"] = target.meets(confirmed[0])
    rec, meets = D.recommend(confirmed, target)
    unit = {"unit": "gelu_int12_e8", "op": "gelu", "kind": "elementwise", "area_um2": 80.0, "flip_flops": 9,
            "fmax_mhz": 300.0, "make": "make gen OP=gelu FORMAT=int12", "note": "stub", "count": 1}
    meta = {"command": "gqa-lut dse-model (stub)", "model": "stub", "sentences": 8, "search_sentences": 8,
            "calib": 2, "seed": 0, "row_store": "sram", "liberty": "stub.lib", "liberty_name": "stub",
            "period_ns": 10.0, "passes": 2, "seconds": 0.0}
    return D.assemble(meta, target, KNOBS, res, confirmed, rec, meets, [unit], [], {unit["unit"]: unit}, {})


def test_report_schema():
    doc = json.loads(json.dumps(fake_report()))
    for part, keys in D.REPORT_KEYS.items():
        if part == "":
            objs = [doc]
        elif part.endswith("[]"):
            objs = doc[part[:-2]]
        elif part.endswith("{}"):
            objs = list(doc[part[:-2]].values())
        else:
            objs = [doc[part]]
        assert objs, part
        for o in objs:
            missing = [k for k in keys if k not in o]
            assert not missing, f"{part or 'top'} lacks {missing}"
    assert doc["recommended"]["meets"] is True and doc["recommended"]["units"][0]["make"].startswith("make gen ")
    assert "SRAM macro" in doc["meta"]["accounting"] or "SRAM" in doc["meta"]["accounting"]
    md = D.markdown(doc)
    assert "## Recommendation" in md and "make gen OP=gelu FORMAT=int12" in md and "## Accounting" in md
    assert D.pareto_png(doc)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, what", [
    (["--model", "bert"], "--model 'bert'"),
    (["--row-store", "ff"], "--row-store 'ff'"),
    (["--passes", "0"], "--passes"),
    (["--min-cos", "1.5"], "--min-cos"),
    (["--sentences", "10", "--search-sentences", "20"], "--search-sentences 20"),
    (["--period-ns", "-1"], "--period-ns"),
    (["--liberty", "/nonexistent.lib"], "/nonexistent.lib"),
    (["--bogus"], "--bogus"),
])
def test_bad_options_are_refused_before_any_work(args, what, tmp_path, capsys):
    rc = D.main(args + ["--build", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error:") and what in err[0], err
    assert not (tmp_path / "b").exists(), "nothing written before the options are checked"


def test_help_names_every_option(capsys):
    assert D.main(["--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--model", "--sentences", "--search-sentences", "--calib", "--passes", "--min-cos", "--min-top1",
                "--confirm", "--row-store", "--seed", "--layers", "--build", "--out", "--liberty", "--period-ns"):
        assert opt in out, opt


def test_layernorm_verilog_does_not_depend_on_the_input_frac(tmp_path):
    """The accounting's premise: one LayerNorm unit serves every site at its
    own input scale (eps 1e-12: the E term is 0 at these fracs)."""
    from flow.build import build
    from hw.layernorm.config import LayerNorm
    from hw.fixed import Fixed
    texts = []
    for f in (7, 10):
        cfg = LayerNorm(8, 64, input=Fixed(16, True, f), out=Fixed(12, True, 6), eps=1e-12, rsqrt="int16",
                        affine=True, row_store="none")
        d = build(cfg, tmp_path)
        texts.append((d / f"{cfg.top}.v").read_text().replace(cfg.name, "UNIT"))
    assert texts[0] == texts[1]
