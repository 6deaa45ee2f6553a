"""Readable RTL (issue #17, item 4): in the generated Verilog every
flip-flop has a meaningful name, and anonymous ``$N`` wires are left only for
expression temporaries (for the units this change touched: the flip-flops'
next-state values, into which Amaranth folds the synchronous reset, and an
FSM's state decoding). Also: the datasheet lists the ports in the order of
the module header.

Anonymous names per module, counted before this change and now (the
thresholds below are what the named datapaths achieve, with a little slack):

=========================  ======  ===============================================
unit (module)              before  now
=========================  ======  ===============================================
FP32 gelu, STAGES=1, IEEE  305     2 (the output and out_valid next-states)
FP32 gelu, STAGES=1, FTZ   341     2
FP32 STAGES=3 LUT=regs FTZ 419     78 (32 next-states, 46 cfg write decoding)
softmax (top module)       132     24 (22 flip-flop next-states, 2 FSM decoding)
softmax, 1 buffer          86      18 (16 next-states, 2 FSM decoding)
layernorm (top module)     86      22 (22 flip-flop next-states)
layernorm, affine, n=16    121     54 (54 next-states: 32 of them gamma/beta)
int8 STAGES=2 LUT=regs     100     100 (hw/pwl_int, hw/pwl_common: not touched)
=========================  ======  ===============================================

The exp/recip/rsqrt tables inside the row-wise units are integer PWL
submodules (hw/pwl_int), counted separately and not part of this change.
"""

from __future__ import annotations

import json
import re

import pytest

from flow.build import build as build_unit
from flow.config import Elementwise
from hw.layernorm.config import LayerNorm
from hw.softmax.config import Softmax

UNITS = {
    "fp32": Elementwise("gelu", "fp32", stages=1),
    "fp32_ftz": Elementwise("gelu", "fp32", stages=1, ftz=True),
    "fp32_s3_regs_ftz": Elementwise("gelu", "fp32", stages=3, lut="regs", ftz=True),
    "int8_s2_regs": Elementwise("gelu", stages=2, lut="regs"),
    "softmax": Softmax(8),
    "softmax_b1": Softmax(8, row_buffers=1),
    "layernorm": LayerNorm(8),
    "layernorm_aff": LayerNorm(8, row_len=16, affine=True),
}
#: the largest number of anonymous names allowed in the unit's top module now
#: (None: only reported), and the count before this change
MAX_ANON = {"fp32": 4, "fp32_ftz": 4, "fp32_s3_regs_ftz": 80, "int8_s2_regs": 100,
            "softmax": 26, "softmax_b1": 20, "layernorm": 24, "layernorm_aff": 56}
BEFORE = {"fp32": 305, "fp32_ftz": 341, "fp32_s3_regs_ftz": 419, "int8_s2_regs": 100,
          "softmax": 132, "softmax_b1": 86, "layernorm": 86, "layernorm_aff": 121}
#: units whose datapath this change named: anonymous names only for next-states (+ FSM decoding)
NAMED = {"fp32", "fp32_ftz", "fp32_s3_regs_ftz", "softmax", "softmax_b1", "layernorm", "layernorm_aff"}

_MODULE_RE = re.compile(r"^module (\\?\S+) ?\((.*?)\);(.*?)^endmodule", re.M | re.S)
_ANON_RE = re.compile(r"\\\$\d+\b")
# Yosys writes a flip-flop as `always @(posedge clk) <lhs> <= <rhs>;` (non-blocking only there)
_NBA_RE = re.compile(r"^\s*(\\\S+|[A-Za-z_][\w$]*)\s*(\[[^\]]*\])?\s*<=\s*([^;]+);", re.M)


@pytest.fixture(scope="module")
def verilog(build_dir):
    out = {}
    for kind, cfg in UNITS.items():
        unit = build_unit(cfg, build_dir)
        man = json.loads((unit / "manifest.json").read_text())
        out[kind] = (unit / man["verilog"][0], man)
    return out


def modules(text: str) -> dict[str, tuple[list[str], str]]:
    """{module name: (header ports, body)}."""
    return {m.group(1): ([p.strip() for p in m.group(2).split(",")], m.group(3))
            for m in _MODULE_RE.finditer(text)}


def anonymous(body: str) -> set[str]:
    return set(_ANON_RE.findall(body))


def flops(body: str) -> list[tuple[str, str]]:
    """(register, next-state) of every non-blocking assignment, memories excluded."""
    return [(lhs, rhs.strip()) for lhs, index, rhs in _NBA_RE.findall(body) if not index]


@pytest.mark.parametrize("kind", list(UNITS))
def test_flip_flops_have_names(verilog, kind):
    """No register written in a clocked process has a `$` name, in the text
    and in Yosys' netlist after `proc` (every flip-flop cell's output wire)."""
    path, man = verilog[kind]
    text = path.read_text()
    for name, (_, body) in modules(text).items():
        lhs = [r for r, _ in flops(body)]
        assert not [r for r in lhs if "$" in r], (name, lhs)
    ys = pytest.importorskip("pyosys.libyosys")
    d = ys.Design()
    ys.run_pass(f"read_verilog -noautowire {path}", d)
    ys.run_pass("proc", d)
    n = 0
    for mod in d.modules_.values():
        for cell in mod.cells_.values():
            if "dff" not in cell.type.str():
                continue
            wires = {b.wire.name.str() for b in cell.getPort(ys.IdString("\\Q")).to_sigbit_vector()
                     if b.wire is not None}
            # `mem[addr] <= data` in a clocked process: Yosys stages the write port's address,
            # data and enable ($memwr$...) until the memory pass merges them into the port
            if all(w.startswith("$memwr$") for w in wires):
                continue
            n += 1
            assert wires and not [w for w in wires if w.startswith("$")], (mod.name.str(), cell.type.str(), wires)
    assert n > 0 or man.get("stages") == 0


@pytest.mark.parametrize("kind", list(UNITS))
def test_anonymous_names_only_for_temporaries(verilog, kind):
    """Few anonymous names (thresholds: MAX_ANON, far below BEFORE); in the
    datapaths named here, each one left is a flip-flop's next-state value
    (Amaranth folds the synchronous reset into it) or an FSM's state decoding."""
    path, man = verilog[kind]
    mods = modules(path.read_text())
    top = mods[man["top"]][1]
    anon = anonymous(top)
    per_module = {name.split(".")[-1]: len(anonymous(body)) for name, (_, body) in mods.items()}
    print(f"{kind}: {len(anon)} anonymous names in {man['top']} (before: {BEFORE[kind]}); "
          f"per module {per_module}")
    assert len(anon) <= MAX_ANON[kind], sorted(anon)
    if kind in NAMED:
        assert len(anon) * 2 <= BEFORE[kind]
        next_states = {rhs for _, rhs in flops(top)}
        fsm = {a for a in anon if re.search(rf"assign {re.escape(a)}  = [!~]? ?\w+_state;", top)}
        # LUT=regs: the table's write decoding (hw/pwl_common.table, not part of this change)
        cfg = {a for a in anon if re.search(rf"assign {re.escape(a)}  = (cfg_addr ==|cfg_we &|! cfg_addr;)", top)}
        assert anon - next_states - fsm - cfg == set(), sorted(anon - next_states - fsm - cfg)


@pytest.mark.parametrize("kind", list(UNITS))
def test_designer_signals_are_named(verilog, kind):
    """Spot checks: the signals a designer probes exist under their names."""
    path, man = verilog[kind]
    text = path.read_text()
    want = {
        "fp32": ["x_cmp_sign", "x_cmp_exp", "x_cmp_mant", "ge0", "seg", "k_lut", "mul_prod", "mul_lz", "mul_norm",
                 "mul_sticky", "mul_round_up", "mul_y", "add_align", "add_align_sticky", "add_sum", "add_lz",
                 "add_norm", "add_guard", "add_round_up", "add_overflow", "add_y"],
        "fp32_ftz": ["x_cmp_sub", "mul_tiny", "add_tiny"],
        "fp32_s3_regs_ftz": ["x_sel", "k_sel", "c_sel", "p_mul", "c_mul", "bp0_cmp_sub"],
        "int8_s2_regs": ["seg", "prod", "acc"],
        "softmax": ["in_ready", "count", "mx", "store", "passed", "commit", "buf0_wr__addr", "buf1_rd__addr",
                    "buf0_rd__data", "diff_sum", "diff", "ssum", "sum_norm", "lead", "r", "prod", "shift",
                    "rounded", "p_sat", "oidx", "last_o"],
        "softmax_b1": ["buf_wr__addr", "buf_rd__addr", "buf_rd__data"],
        "layernorm": ["sx", "sxx", "sx_n", "x_sq", "err_n", "buf_wr__addr", "wr_addr", "rd_addr", "n2_var", "w",
                      "lead", "w_norm", "d", "prod", "shift", "rounded", "y_sat", "ridx"],
        "layernorm_aff": ["gamma_o", "beta_o", "d_r", "beta_aligned", "res"],
    }[kind]
    declared = set(re.findall(r"^\s*(?:wire|reg)\s+(?:signed\s+)?(?:\[[^\]]+\]\s+)?(\\?\S+?)\s*[;=]", text, re.M))
    assert [w for w in want if w not in declared] == []


def test_datasheet_lists_ports_in_module_order(build_dir):
    """The datasheet's ports table follows the module header of the RTL
    (hw/handoff/datasheet.py module_port_order), for an element-wise unit with
    a cfg port, a combinational one and both row-wise units."""
    from hw.handoff.datasheet import module_port_order
    for cfg in (UNITS["int8_s2_regs"], Elementwise("gelu", "fp32", stages=0), UNITS["softmax"],
                UNITS["layernorm_aff"]):
        unit = build_unit(cfg, build_dir, handoff=True)
        man = json.loads((unit / "manifest.json").read_text())
        header = modules((unit / man["verilog"][0]).read_text())[man["top"]][0]
        assert [p["name"] for p in module_port_order(man["ports"])] == header
        assert sorted(header) == sorted(p["name"] for p in man["ports"])
        sheet = (unit / "handoff" / "DATASHEET.md").read_text().split("## Ports")[1].split("Reset:")[0]
        assert re.findall(r"^\| `(\w+)` \|", sheet, re.M) == header
        pkg_rtl = (unit / "handoff" / f"rtl/{man['top']}.v").read_text()
        assert modules(pkg_rtl)[man["top"]][0] == header
