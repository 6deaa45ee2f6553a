"""cocotb bench of the integer element-wise units: RTL output == golden model, bit for bit.

Every integer implementation (``spec.impl``: pwl, uniform, table) runs
here: the expected values come from :func:`hw.impls.evaluate` and a
``LUT=regs`` unit is programmed with :func:`hw.impls.image`, both of which
dispatch on the spec's impl.

Lanes: the manifest's ``lanes`` (P, default 1) says how many; every vector
runs on every lane, a different one on each lane in each clock (lane i the
sequence rotated by i*n/P, :mod:`sim.lanes`), and every lane is checked.
The summary's ``vectors`` counts lane results (n * P).

Environment (set by :mod:`sim.units`):

``GQA_UNIT_DIR``    unit directory (manifest.json, spec.json)
``GQA_GOLDEN``      spec the expected values come from (default: the unit's);
                    the negative test points it at the true table while the
                    RTL was built from a corrupted one
``GQA_SPEC2``       ``LUT=regs`` only: a second table to load through cfg (same
                    impl and formats as the unit's spec)
``GQA_RANDOM``      random vectors for inputs wider than 16 bits
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hw.impls import evaluate, image
from hw.spec import Spec
from sim import bus, lanes
from sim.runner import write_summary
from hw.pwl_int.vectors import int_vectors

MAX_REPORTED = 10


def _env():
    unit = Path(os.environ["GQA_UNIT_DIR"])
    manifest = json.loads((unit / "manifest.json").read_text())
    golden = Spec.load(os.environ.get("GQA_GOLDEN", unit / "spec.json"))
    return manifest, golden


async def _check(dut, manifest, spec, codes, label, seed=0):
    """Every vector of ``codes`` on every lane (:mod:`sim.lanes`: lane i runs
    the sequence rotated by i*n/P), each lane's output against the golden model."""
    y_signed = spec.output.signed
    stages = manifest["stages"]
    P = manifest.get("lanes", 1)
    w_in, w_out = spec.input.bits, spec.output.bits
    idx = lanes.schedule(len(codes), P)                 # (steps, lanes) indices into codes
    lane_codes = np.asarray(codes, dtype=np.int64)[idx]
    words = [lanes.pack(row, w_in) for row in lane_codes.tolist()]
    if stages:
        got_words, late = await bus.drive_pipeline(dut, words, stages, bus.pauses(random.Random(seed), 0.2))
    else:
        got_words, late = await bus.settle_each(dut, words), 0
    got = np.asarray([lanes.unpack(w, P, w_out, y_signed) for w in got_words], dtype=np.int64).reshape(-1, P)
    want = evaluate(spec, codes)[idx]
    n = min(len(got), len(want))
    bad = np.argwhere(got[:n] != want[:n])
    for t, i in bad[:MAX_REPORTED]:
        where = f" lane {i} step {t}" if P > 1 else ""
        dut._log.error(f"{label}:{where} x={int(lane_codes[t, i])} got y={int(got[t, i])} want {int(want[t, i])}")
    missing = abs(len(got) - len(want)) * P
    if missing:
        dut._log.error(f"{label}: {len(got)} outputs for {len(want)} inputs")
    if late:
        dut._log.error(f"{label}: {late} outputs not at latency {stages}")
    mism = len(bad) + missing + late
    write_summary(vectors=len(codes) * P, mismatches=mism)
    dut._log.info(f"{label}: {len(codes)} vectors on each of {P} lane(s), {mism} mismatches")
    return mism


@cocotb.test()
async def pwl_int_exact(dut):
    await run_unit(dut)


async def run_unit(dut):
    """The whole bench of one unit; ``dut`` may also stand for one unit of a
    group simulated together (:mod:`sim.tb_group`), so its clock is stopped
    when the unit is done."""
    manifest, golden = _env()
    clocked = manifest["stages"] > 0 or manifest["lut"] == "regs"
    clock = Clock(dut.clk, 10, unit="ns") if clocked else None
    try:
        await _run(dut, manifest, golden, clock)
    finally:
        if clock is not None:
            clock.stop()


async def _run(dut, manifest, golden, clock):
    codes = int_vectors(golden, int(os.environ.get("GQA_RANDOM", "100000")))
    if clock is not None:
        clock.start()
        dut.rst.value = 1
        if manifest["stages"]:
            dut.in_valid.value = 0
        if manifest["lut"] == "regs":
            dut.cfg_we.value = 0
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
    mism = 0
    if manifest["lut"] == "regs" and os.environ.get("GQA_SPEC2"):
        # one unit, two functions: load another table, check, load ours back
        spec2 = Spec.load(os.environ["GQA_SPEC2"])
        assert spec2.impl == golden.impl and spec2.entries == golden.entries, (
            f"GQA_SPEC2 is a {spec2.impl} table of {spec2.entries} entries; the unit is {golden.impl} "
            f"with {golden.entries}: the second table must have the same impl, entries and formats")
        await bus.write_cfg(dut, image(spec2))
        mism += await _check(dut, manifest, spec2, int_vectors(spec2), f"{spec2.op} loaded via cfg", 1)
        await bus.write_cfg(dut, image(golden))
        label = f"{golden.op} reloaded via cfg"
    else:
        label = golden.op
    mism += await _check(dut, manifest, golden, codes, label, 2)
    write_summary(lanes=manifest.get("lanes", 1))
    assert mism == 0, f"{mism} mismatches against the golden model"
