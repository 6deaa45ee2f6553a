"""cocotb on Icarus: the binary32 components and the FP32 PWL unit, as
Verilog generated from the Amaranth code, against the golden models, bit for
bit (bench: sim/tb_fp32.py).

* mul and add, IEEE and FTZ: every pair of the special values (86 x 86)
  plus 200,000 random pairs each (hw.fp32.vectors.random_pairs);
* the comparator, IEEE and FTZ: special pairs plus random;
* mutation: a multiplier/adder built with ``round="trunc"`` must make the
  bench report mismatches (so the bench can fail);
* the FP32 PWL unit for a hand-made 8-entry spec, stages 0 and 2, LUT rom
  and regs (regs: reset table, reprogrammed table, reset again), IEEE and FTZ;
  and at every deeper STAGES 4..MAX_STAGES (issue 26: the multiplier's and the
  adder's internal cuts), the latency checked by the bench;
* mul and add with their internal pipeline cuts (``cuts``), every special
  pair plus random pairs, one pair per clock at the cuts' latency.
"""

from __future__ import annotations

import pytest
from amaranth.back import verilog

from hw.fp32.add import FP32Add
from hw.fp32.cmp import FP32Ge
from hw.fp32.mul import FP32Mul
from hw.fp32.vectors import special_values
from hw.pwl_fp32.unit import FP32PWL
from sim.runner import run_bench
from tests.helpers import examples, hand_spec

RANDOM = examples(200_000)      # 50,000 in make test, 200,000 with GQA_TEST_SCALE=1
SPECIAL_PAIRS = len(special_values()) ** 2
COMPONENTS = {"mul": FP32Mul, "add": FP32Add, "cmp": FP32Ge}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fp32")


def _emit(comp, top: str, work) -> list:
    path = work / f"{top}.v"
    path.write_text(verilog.convert(comp, name=top, emit_src=False))
    return [path]


def _binop(work, op: str, ftz: bool, n: int, round_mode: str = "rne", seed: int = 0):
    kw = {} if op == "cmp" else {"round": round_mode}
    top = f"fp32_{op}{'_ftz' if ftz else ''}{'_' + round_mode if round_mode != 'rne' else ''}"
    src = _emit(COMPONENTS[op](ftz=ftz, **kw), top, work)
    return run_bench(top, src, top, "sim.tb_fp32", work / top, testcase="test_binop",
                     env={"GQA_FP32_OP": op, "GQA_FP32_FTZ": int(ftz), "GQA_FP32_RANDOM": n,
                          "GQA_FP32_SPECIALS": 1, "GQA_FP32_SEED": seed})


@pytest.mark.parametrize("ftz", [False, True], ids=["ieee", "ftz"])
@pytest.mark.parametrize("op", ["mul", "add"])
def test_arith_unit(work, op, ftz):
    r = _binop(work, op, ftz, RANDOM)
    print(r.line())
    assert r.vectors == SPECIAL_PAIRS + RANDOM
    assert r.mismatches == 0 and r.ok, r.line()


@pytest.mark.parametrize("ftz", [False, True], ids=["ieee", "ftz"])
def test_cmp_unit(work, ftz):
    r = _binop(work, "cmp", ftz, 10_000)
    print(r.line())
    assert r.vectors == SPECIAL_PAIRS + 10_000
    assert r.mismatches == 0 and r.ok, r.line()


@pytest.mark.parametrize("op", ["mul", "add"])
def test_truncating_rounding_is_caught(work, op):
    """Mutation test: the same bench must fail a unit that truncates."""
    r = _binop(work, op, False, 2_000, round_mode="trunc")
    print(r.line())
    assert r.vectors == SPECIAL_PAIRS + 2_000
    assert r.mismatches > 100 and r.failed == 1 and not r.ok, r.line()


@pytest.mark.parametrize("stages,lut,ftz", [
    (0, "rom", False), (2, "rom", False), (0, "regs", False), (2, "regs", False),
    (0, "rom", True), (2, "regs", True), (3, "rom", True),
    # the deeper STAGES (issue 26), each once, rom/regs and IEEE/FTZ alternating
    # (STAGES 8, 9, 11, 12 are covered by their neighbours' cut sets: each adds one cut to the one before)
    (4, "rom", False), (5, "regs", True), (6, "rom", True), (7, "regs", False),
    (10, "regs", False), (13, "regs", True), (14, "rom", False),
])
def test_pwl_unit(work, tmp_path, stages, lut, ftz):
    spec, spec2 = hand_spec(0), hand_spec(1)
    (tmp_path / "spec.json").write_text(spec.dumps())
    (tmp_path / "spec2.json").write_text(spec2.dumps())
    unit = FP32PWL(spec, stages=stages, lut=lut, ftz=ftz)
    assert unit.latency == stages
    ports = set(unit.signature.members)
    assert ports == ({"x", "y"} | ({"in_valid", "out_valid"} if stages else set())
                     | ({"cfg_we", "cfg_addr", "cfg_data"} if lut == "regs" else set()))
    top = f"fp32_pwl_s{stages}_{lut}{'_ftz' if ftz else ''}"
    src = _emit(unit, top, work)
    r = run_bench(top, src, top, "sim.tb_fp32", work / top, testcase="test_pwl",
                  env={"GQA_FP32_SPEC": tmp_path / "spec.json", "GQA_FP32_SPEC2": tmp_path / "spec2.json",
                       "GQA_FP32_STAGES": stages, "GQA_FP32_LUT": lut, "GQA_FP32_FTZ": int(ftz),
                       "GQA_FP32_RANDOM": 3_000, "GQA_FP32_SEED": stages})
    print(r.line())
    assert r.vectors >= 3_000
    assert r.mismatches == 0 and r.ok, r.line()


#: random pairs of a pipelined operator's bench: its arithmetic is the unpipelined operator's (20,000
#: random pairs in test_arith_unit); this checks that the cuts carry every value and flag along
PIPE_RANDOM = 4_000
MUL_CUTS = ("mul_pp", "mul_prod", "mul_lz", "mul_shl", "mul_norm", "mul_round")
ADD_CUTS = ("add_cmp", "add_swap", "add_align", "add_sum", "add_norm", "add_round")


@pytest.mark.parametrize("op,cuts,ftz", [
    ("mul", MUL_CUTS, False), ("mul", MUL_CUTS, True), ("mul", ("mul_prod", "mul_norm"), False),
    ("add", ADD_CUTS, False), ("add", ADD_CUTS, True), ("add", ("add_align", "add_norm"), True),
])
def test_pipelined_arith(work, op, cuts, ftz):
    """The operators with internal cuts: every special pair (both operands, so
    the flags carried across the cuts from either side are exercised) and
    random pairs, one per clock, at latency = the number of cuts."""
    top = f"fp32_{op}_pipe_{'_'.join(c.split('_')[1] for c in cuts)}{'_ftz' if ftz else ''}"
    src = _emit(COMPONENTS[op](ftz=ftz, cuts=cuts), top, work)
    r = run_bench(top, src, top, "sim.tb_fp32", work / top, testcase="test_binop_pipe",
                  env={"GQA_FP32_OP": op, "GQA_FP32_FTZ": int(ftz), "GQA_FP32_RANDOM": PIPE_RANDOM,
                       "GQA_FP32_SPECIALS": 1, "GQA_FP32_SEED": len(cuts), "GQA_FP32_LATENCY": len(cuts)})
    print(r.line())
    assert r.vectors == SPECIAL_PAIRS + PIPE_RANDOM
    assert r.mismatches == 0 and r.ok, r.line()


def test_pwl_unit_rejects_bad_arguments():
    from hw.pwl_common import MAX_STAGES
    spec = hand_spec()
    with pytest.raises(ValueError, match="stages"):
        FP32PWL(spec, stages=MAX_STAGES + 1)
    with pytest.raises(ValueError, match="lut"):
        FP32PWL(spec, lut="ram")
    with pytest.raises(ValueError, match="round"):
        FP32Mul(round="up")
    with pytest.raises(ValueError, match="round"):
        FP32Add(round="nearest")
