"""Port order (issue 21, item 6): the generated module's header lists its
ports as README.md documents them (clk, rst first, then the data ports,
inputs before outputs, the cfg_* write port last), for every kind of unit;
the manifest's ports and the datasheet's ports table follow the same order.
Before this, Amaranth/Yosys wrote ``in_valid, clk, rst, y, out_valid, x``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flow.build import build as build_unit
from flow.config import Elementwise, FitOptions
from hw.layernorm.config import LayerNorm
from hw.rmsnorm.config import RMSNorm
from hw.softmax.config import Softmax

ROOT = Path(__file__).resolve().parent.parent
FAST = FitOptions(generations=5)          # the table's quality does not matter here
CFG = ["cfg_we", "cfg_addr", "cfg_data"]
ELEMENTWISE = ["clk", "rst", "in_valid", "x", "out_valid", "y"]
STREAM = ["clk", "rst", "in_valid", "in_last", "in_ready", "in_data", "out_valid", "out_last", "out_ready",
          "out_data"]

UNITS = {
    "int8": (Elementwise("gelu", entries=4, fit=FAST), ELEMENTWISE),
    "int8_s0": (Elementwise("gelu", entries=4, stages=0, fit=FAST), ["x", "y"]),
    "int8_s2_regs": (Elementwise("gelu", entries=4, stages=2, lut="regs", fit=FAST), ELEMENTWISE + CFG),
    "int8_s0_regs": (Elementwise("gelu", entries=4, stages=0, lut="regs", fit=FAST), ["clk", "rst", "x", "y"] + CFG),
    "lanes": (Elementwise("gelu", entries=4, lanes=4, fit=FAST), ELEMENTWISE),
    "table": (Elementwise("gelu", impl="table", stages=2), ELEMENTWISE),
    "fp32": (Elementwise("gelu", "fp32", entries=4, fit=FAST), ELEMENTWISE),
    "softmax": (Softmax(4, fit=FAST), STREAM + ["out_overflow"]),
    "softmax_2pass": (Softmax(4, fit=FAST, row_store="none"), STREAM + ["out_overflow"]),
    "layernorm_aff": (LayerNorm(4, row_len=8, affine=True, fit=FAST), STREAM + ["out_error"] + CFG),
    "rmsnorm_2pass": (RMSNorm(4, row_len=8, fit=FAST, row_store="none"), STREAM + ["out_error"]),
}


def header(text: str, top: str) -> list[str]:
    """The port names of ``module top(...);`` (a parser of its own, not hw/ports.py's)."""
    m = re.search(r"^module\s+" + re.escape(top) + r"\s*\(([^)]*)\);", text, re.M)
    assert m, f"no header of {top}"
    return [p.strip() for p in m.group(1).split(",")]


def readme_block(top: str) -> list[str]:
    """The port names of README.md's ``module <top> (`` block, in order."""
    text = (ROOT / "README.md").read_text()
    block = text.split(f"module {top} (\n", 1)[1].split(");", 1)[0]
    names = []
    for line in block.splitlines():
        code = line.split("//")[0]
        names += [w for w in re.findall(r"\b[a-z_][a-z0-9_]*\b", code) if w not in ("input", "output")]
    return names


@pytest.mark.parametrize("kind", list(UNITS))
def test_module_header_is_the_documented_order(kind, tmp_path_factory):
    cfg, want = UNITS[kind]
    unit = build_unit(cfg, tmp_path_factory.mktemp("ports"), handoff=True)
    man = json.loads((unit / "manifest.json").read_text())
    got = header((unit / man["verilog"][0]).read_text(), man["top"])
    assert got == want
    assert [p["name"] for p in man["ports"]] == want                 # the manifest lists them so too
    sheet = (unit / "handoff" / "DATASHEET.md").read_text().split("## Ports")[1].split("Reset:")[0]
    assert re.findall(r"^\| `(\w+)` \|", sheet, re.M) == want         # and the datasheet's ports table
    pkg = (unit / "handoff" / "rtl" / f"{man['top']}.v").read_text()
    assert header(pkg, man["top"]) == want                           # and the packaged RTL


def test_readme_blocks_are_the_generated_order():
    assert readme_block("gqa_gelu_int8_e8") == ELEMENTWISE
    assert readme_block("gqa_softmax_int8_e8") == STREAM + ["out_overflow"]


def test_reorder_keeps_everything_but_the_header():
    from hw.ports import reorder_header
    text = "module top(in_valid, clk, rst, y, out_valid, x);\n  input clk;\nendmodule\nmodule sub(b, a);\nendmodule\n"
    out = reorder_header(text, "top")
    assert out == text.replace("in_valid, clk, rst, y, out_valid, x", ", ".join(ELEMENTWISE))
