"""Amaranth-native streams for the row-wise units (issue #17, item 5).

* the README example (``sim/stream_example.py``): a user's design
  that connects a FIFO to the softmax unit with ``wiring.connect``, run in
  Amaranth's simulator against the golden model (``Softmax.row``), with
  gaps on the input and back-pressure on the output;
* ``LayerNormStream`` (affine, ``cfg_*`` passed through) against its model;
* the stream view adds nothing to the generated Verilog: the flat units keep
  exactly their ports (names, order, widths).
"""

from __future__ import annotations

import random
import re

import pytest
from amaranth.back import verilog
from amaranth.lib import stream, wiring

from sim.stream_example import ScoresToProbabilities, run_rows, stream_rows
from hw.layernorm.unit import LayerNormStream, LayerNormUnit
from hw.softmax.unit import SoftmaxStream, SoftmaxUnit
from tests.helpers import check_rows


@pytest.mark.parametrize("row_buffers", [2, 1])
def test_stream_example_matches_golden_model(softmax8, row_buffers):
    rng = random.Random(17)
    rows = [[-40, 3, 17, 17, -128, 0, 90, -7], [5], [127] * 3, [(37 * j) % 256 - 128 for j in range(130)]]
    rows += [[rng.randint(-128, 127) for _ in range(rng.randint(1, 24))] for _ in range(10)]
    got = run_rows(ScoresToProbabilities(softmax8, row_buffers=row_buffers), rows,
                   gap=lambda cyc: cyc % 7 == 3, ready=lambda cyc: cyc % 5 != 1)
    check_rows(softmax8, rows, got)
    assert any(f for _, f in got[3])                        # the 130-element row overflowed


def test_stream_interfaces_connect(softmax8):
    """``i``/``o`` are stream interfaces any stream connects to."""
    sm = SoftmaxStream(softmax8)
    assert isinstance(sm.signature.members["i"].signature, stream.Signature)
    assert sm.signature.members["i"].flow == wiring.In and sm.signature.members["o"].flow == wiring.Out
    from amaranth.hdl import Module
    m = Module()
    src = stream.Signature(sm.in_layout).create()
    dst = stream.Signature(sm.out_layout).flip().create()
    wiring.connect(m, src, sm.i)
    wiring.connect(m, sm.o, dst)
    m.submodules.sm = sm
    verilog.convert(m, ports=[src.valid, src.ready, src.payload.as_value(), dst.valid, dst.ready,
                              dst.payload.as_value()])


def test_layernorm_stream_with_cfg(layernorm8_affine):
    """LayerNormStream: rows through ``i``/``o`` equal the model; gamma/beta
    written through the passed-through ``cfg_*`` ports take effect."""
    dut = LayerNormStream(layernorm8_affine)
    assert {"cfg_we", "cfg_addr", "cfg_data"} <= set(dut.signature.members)
    n = layernorm8_affine.row_len
    rng = random.Random(5)
    rows = [[rng.randint(-128, 127) for _ in range(n)] for _ in range(4)]
    gamma = [rng.randint(-64, 127) for _ in range(n)]

    async def write_gamma(ctx):
        for i, g in enumerate(gamma):                         # gamma_i at address i
            ctx.set(dut.cfg_we, 1)
            ctx.set(dut.cfg_addr, i)
            ctx.set(dut.cfg_data, g & 0xFF)
            await ctx.tick()
        ctx.set(dut.cfg_we, 0)

    got = stream_rows(dut, dut.i, dut.o, rows, "error", ready=lambda cyc: cyc % 3 != 0, max_cycles=2000,
                      before=write_gamma)
    import dataclasses
    md = dataclasses.replace(layernorm8_affine, gamma=tuple(gamma))
    for i, r in enumerate(rows):
        assert [c for c, _ in got[i]] == [int(v) for v in md.row(r)], f"row {i}"
        assert {e for _, e in got[i]} == {0}


@pytest.mark.parametrize("op", ["softmax", "layernorm"])
def test_flat_units_keep_their_ports(op, softmax8, layernorm8_affine):
    """The Verilog top is the flat unit: exactly in_valid, in_ready, in_data,
    in_last, out_valid, out_ready, out_data, out_last, out_overflow|out_error
    (+ cfg_*), clk, rst; the stream wrapper is not part of it."""
    unit = SoftmaxUnit(softmax8) if op == "softmax" else LayerNormUnit(layernorm8_affine)
    flag = "out_overflow" if op == "softmax" else "out_error"
    flat = ["in_valid", "in_ready", "in_data", "in_last", "out_valid", "out_ready", "out_data", "out_last", flag]
    assert list(unit.signature.members)[:9] == flat
    text = verilog.convert(unit, name="top", emit_src=False)
    header = re.search(r"^module top\((.*?)\);", text, re.M).group(1).split(", ")
    extra = ["cfg_we", "cfg_addr", "cfg_data"] if op == "layernorm" else []
    # Amaranth/Yosys header order: inputs after the first, clk, rst, outputs, the first input
    ins = [p for p in flat + extra if unit.signature.members[p].flow == wiring.In]
    outs = [p for p in flat if unit.signature.members[p].flow == wiring.Out]
    assert header == ins[1:] + ["clk", "rst"] + outs + ins[:1]


def test_readme_amaranth_example_runs_as_printed(tmp_path):
    """README "Using a unit inside your own Amaranth design": the block, saved
    as a file in the checkout and run as printed, prints what the README says."""
    import re
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text()
    section = text[text.index("## Using a unit inside your own Amaranth design"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    f = tmp_path / "attention.py"
    f.write_text(block)
    r = subprocess.run([sys.executable, str(f)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "attention: 1712 lines of Verilog", r.stdout[-500:]
    assert "UnusedElaboratable" not in r.stderr
