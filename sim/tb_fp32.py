"""cocotb benches for the binary32 components and the FP32 PWL unit.

Every expected value comes from the golden models (:mod:`hw.fp32.model`,
:mod:`hw.pwl_fp32.model`), computed here in the bench from the same
operands it drives, and every comparison is of 32-bit patterns (so -0/+0
and NaN encodings count). Each test reports ``vectors`` and ``mismatches``
through :func:`sim.runner.write_summary` and fails on any mismatch.

Environment (set by the caller, e.g. ``tests/test_fp32_units.py``):

``test_binop`` (DUT: the bare ``FP32Mul``/``FP32Add``/``FP32Ge``, ports a, b, y)
    GQA_FP32_OP      mul | add | cmp
    GQA_FP32_FTZ     0 | 1: which golden model (IEEE or FTZ)
    GQA_FP32_RANDOM  number of random pairs (:func:`hw.fp32.vectors.random_pairs`)
    GQA_FP32_SPECIALS 1: also every pair of the special values
    GQA_FP32_SEED    seed of the random pairs

``test_binop_pipe`` (DUT: ``FP32Mul``/``FP32Add`` built with internal ``cuts``, ports clk, rst, a, b, y)
    as ``test_binop``, plus GQA_FP32_LATENCY: a new pair every clock, y read that many clocks later

``test_pwl`` (DUT: ``FP32PWL``)
    GQA_FP32_SPEC    spec JSON the unit was generated from
    GQA_FP32_SPEC2   (LUT=regs only) a second spec, programmed through cfg_*
    GQA_FP32_STAGES, GQA_FP32_LUT, GQA_FP32_FTZ, GQA_FP32_RANDOM, GQA_FP32_SEED
    GQA_UNIT_DIR     (optional) the unit's directory: its manifest's ``lanes``;
                     else GQA_FP32_LANES (default 1). Every vector (specials,
                     breakpoint neighbours, random) runs on every lane, lane i
                     the sequence rotated by i*n/P (:mod:`sim.lanes`), and
                     ``vectors`` counts lane results
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from hw.fp32 import model, vectors
from sim import bus, lanes
from sim.runner import write_summary

MAX_REPORT = 10


def _env_int(name: str, default: int = 0) -> int:
    return int(os.environ.get(name, default))


def _lanes() -> int:
    """The unit's lanes: its manifest's ``lanes`` when ``GQA_UNIT_DIR`` names
    it (:func:`sim.units.verify`), else ``GQA_FP32_LANES`` (default 1)."""
    unit = os.environ.get("GQA_UNIT_DIR")
    if unit:
        import json
        from pathlib import Path
        return int(json.loads((Path(unit) / "manifest.json").read_text()).get("lanes", 1))
    return _env_int("GQA_FP32_LANES", 1)


def _report(dut, label: str, ops, got, want) -> int:
    """Log the first mismatches and return how many there were."""
    got = np.asarray(got, dtype=np.uint64)
    want = np.asarray(want, dtype=np.uint64)
    bad = np.nonzero(got != want)[0]
    for i in bad[:MAX_REPORT]:
        args = " ".join(f"{int(o[i]):#010x}" for o in ops)
        dut._log.error(f"{label}: inputs {args}: got {int(got[i]):#010x}, want {int(want[i]):#010x}")
    dut._log.info(f"{label}: {len(got)} vectors, {len(bad)} mismatches")
    return int(len(bad))


@cocotb.test()
async def test_binop(dut):
    """Combinational binary32 mul/add/cmp against the golden model."""
    op = os.environ["GQA_FP32_OP"]
    ftz = bool(_env_int("GQA_FP32_FTZ"))
    a, b = vectors.random_pairs(op, _env_int("GQA_FP32_RANDOM"), _env_int("GQA_FP32_SEED"))
    if _env_int("GQA_FP32_SPECIALS"):
        sa, sb = vectors.all_pairs(vectors.special_values())
        a, b = np.concatenate([sa, a]), np.concatenate([sb, b])
    want = {"mul": model.mul, "add": model.add, "cmp": model.ge}[op](a, b, ftz)
    got = []
    settle = Timer(1, "ns")
    for x, y in zip(a.tolist(), b.tolist()):
        dut.a.value = x
        dut.b.value = y
        await settle
        got.append(int(dut.y.value))
    bad = _report(dut, f"{op}{' ftz' if ftz else ''}", (a, b), got, want.astype(np.uint32))
    write_summary(vectors=len(a), mismatches=bad)
    assert bad == 0, f"{bad} mismatches out of {len(a)}"


@cocotb.test()
async def test_binop_pipe(dut):
    """Pipelined binary32 mul/add (internal cuts) against the golden model: one pair per clock."""
    op = os.environ["GQA_FP32_OP"]
    ftz = bool(_env_int("GQA_FP32_FTZ"))
    lat = _env_int("GQA_FP32_LATENCY")
    a, b = vectors.random_pairs(op, _env_int("GQA_FP32_RANDOM"), _env_int("GQA_FP32_SEED"))
    if _env_int("GQA_FP32_SPECIALS"):
        sa, sb = vectors.all_pairs(vectors.special_values())
        a, b = np.concatenate([sa, a]), np.concatenate([sb, b])
    want = {"mul": model.mul, "add": model.add}[op](a, b, ftz)
    clock = Clock(dut.clk, 10, unit="ns")
    clock.start()
    dut.rst.value = 0
    edge = FallingEdge(dut.clk)
    got = []
    xs, ys = a.tolist(), b.tolist()
    for i in range(len(xs) + lat):
        await edge
        if i >= lat:
            got.append(int(dut.y.value))
        if i < len(xs):
            dut.a.value, dut.b.value = xs[i], ys[i]
    clock.stop()
    bad = _report(dut, f"{op}{' ftz' if ftz else ''} latency {lat}", (a, b), got, want.astype(np.uint32))
    write_summary(vectors=len(a), mismatches=bad)
    assert bad == 0, f"{bad} mismatches out of {len(a)}"


async def _lane_stream(dut, xs, stages: int, rng, P: int):
    """``xs`` on every one of ``P`` lanes (lane i the sequence rotated by
    i*n/P, :mod:`sim.lanes`): (the lanes' inputs, their outputs, both
    flattened step by step; results late or missing)."""
    idx = lanes.schedule(len(xs), P)
    lx = np.asarray(xs, dtype=np.uint32)[idx]
    words = [lanes.pack(row, 32) for row in lx.tolist()]
    if stages == 0:
        got, late = await bus.settle_each(dut, words), 0
    else:
        garbage = lanes.pack([0x7FC00000] * P, 32)          # idle inputs that must not reach y
        got, late = await bus.drive_pipeline(dut, words, stages, bus.pauses(rng, 0.1),
                                             idle=lambda cycle: garbage if cycle % 2 else 0)
    g = [v for w in got for v in lanes.unpack(w, P, 32, False)]
    lx = lx.reshape(-1)
    missing = len(lx) - len(g)
    if late or missing:
        dut._log.error(f"{late} results not at latency {stages}, {missing} results missing")
    return lx[:len(g)], g, late + missing


def _pwl_inputs(spec, n: int, seed: int):
    """Specials, the breakpoints and their neighbours, and random inputs."""
    from hw.pwl_fp32.model import table_bits
    rng = np.random.default_rng(seed)
    bps = table_bits(spec)[0].astype(np.int64)
    near = np.concatenate([bps + d for d in (-2, -1, 0, 1, 2)] + [(bps ^ 0x80000000)])
    lo, hi = float(min(spec.breakpoints, default=-1.0)), float(max(spec.breakpoints, default=1.0))
    span = max(hi - lo, 1.0)
    inside = model.bits(rng.uniform(lo - span, hi + span, n // 2).astype(np.float32))
    uniform = rng.integers(0, 1 << 32, n - n // 2, dtype=np.uint64)
    xs = np.concatenate([vectors.special_values(), near & 0xFFFFFFFF, inside, uniform])
    return xs.astype(np.uint32)


@cocotb.test()
async def test_pwl(dut):
    """FP32 PWL unit (any stages, rom or regs, IEEE or FTZ) against its golden model."""
    from hw import lut_image
    from hw.pwl_fp32.model import evaluate
    from hw.spec import Spec

    spec = Spec.load(os.environ["GQA_FP32_SPEC"])
    stages = _env_int("GQA_FP32_STAGES")
    lut = os.environ.get("GQA_FP32_LUT", "rom")
    ftz = bool(_env_int("GQA_FP32_FTZ"))
    seed = _env_int("GQA_FP32_SEED")
    P = _lanes()
    rng = np.random.default_rng(seed)
    xs = _pwl_inputs(spec, _env_int("GQA_FP32_RANDOM"), seed)
    clocked = stages > 0 or lut == "regs"
    if clocked:
        cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
        dut.rst.value = 1
        dut.x.value = 0
        if stages:
            dut.in_valid.value = 0
        if lut == "regs":
            dut.cfg_we.value = 0
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
    total = bad = 0
    # the table the unit was generated with (for regs: the reset values), every vector on every lane
    lx, got, bad = await _lane_stream(dut, xs, stages, rng, P)
    label = f"pwl s{stages} {lut}{' ftz' if ftz else ''}" + (f" {P} lanes" if P > 1 else "")
    bad += _report(dut, label, (lx,), got, evaluate(spec, lx, ftz))
    total += len(lx)
    if lut == "regs":
        # program a different table through cfg_* and check it took effect
        spec2 = Spec.load(os.environ["GQA_FP32_SPEC2"])
        await bus.write_cfg(dut, lut_image.image(spec2))
        xs2 = _pwl_inputs(spec2, _env_int("GQA_FP32_RANDOM") // 2, seed + 1)
        lx, got, late = await _lane_stream(dut, xs2, stages, rng, P)
        bad += late + _report(dut, label + " reprogrammed", (lx,), got, evaluate(spec2, lx, ftz))
        total += len(lx)
        # reset reloads the generated table
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        lx, got, late = await _lane_stream(dut, xs[:500], stages, rng, P)
        bad += late + _report(dut, label + " after reset", (lx,), got, evaluate(spec, lx, ftz))
        total += len(lx)
    write_summary(vectors=total, mismatches=bad, lanes=P)
    assert bad == 0, f"{bad} mismatches out of {total}"
