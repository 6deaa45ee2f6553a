"""hw/pwl_int/serial.py: the PWL arithmetic one multiplier bit per clock,
which the row-wise units without a row store use for their once-per-row
table (rsqrt, reciprocal), is the golden model on every input code of the
int8 and int16 rsqrt, reciprocal and exp tables' domains (int16: a sample),
with ``done`` exactly ``SerialPWL.clocks`` after ``start``; and a one-entry
error in the model's table breaks the comparison."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from flow.build import rowwise_model
from flow.config import parse_fixed
from hw.layernorm.config import LayerNorm
from hw.softmax.config import Softmax
from hw.pwl_int.model import evaluate
from hw.pwl_int.serial import SerialPWL


def _run(spec, codes) -> tuple[list[int], list[int]]:
    """(outputs, clocks from start to done) of the serial unit, one code after another."""
    dut = SerialPWL(spec)
    got, clocks = [], []

    async def bench(ctx):
        for q in codes:
            ctx.set(dut.x, int(q))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            n = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                n += 1
            clocks.append(n)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, clocks


def _tables(build_dir):
    ln, _ = rowwise_model(LayerNorm(8), build_dir)
    wide, _ = rowwise_model(LayerNorm(8, input=parse_fixed("s16.8", "i"), out=parse_fixed("s16.13", "o")),
                            build_dir)
    sm, _ = rowwise_model(Softmax(8), build_dir)
    return {"rsqrt int8": ln.rsqrt, "rsqrt int16": wide.rsqrt, "reciprocal": sm.recip, "exp": sm.exp}


@pytest.mark.parametrize("name", ["rsqrt int8", "rsqrt int16", "reciprocal", "exp"])
def test_serial_pwl_is_the_golden_model(name, build_dir):
    spec = _tables(build_dir)[name]
    x = spec.input
    codes = np.arange(x.min_code, x.max_code + 1)
    if len(codes) > 600:                     # int16: extremes, breakpoints and neighbours, a seeded sample
        bps = [int(b) for b in spec.breakpoints]
        pick = {x.min_code, x.max_code, 0} | {b + d for b in bps for d in (-1, 0, 1)}
        pick |= set(np.random.default_rng(5).integers(x.min_code, x.max_code + 1, 300).tolist())
        codes = np.array(sorted(c for c in pick if x.min_code <= c <= x.max_code))
    got, clocks = _run(spec, codes)
    want = evaluate(spec, codes)
    bad = [(int(q), g, int(w)) for q, g, w in zip(codes, got, want) if g != w]
    assert not bad, f"{len(bad)} of {len(codes)} codes differ, first {bad[:5]}"
    assert set(clocks) == {SerialPWL.clocks(spec)}


def test_one_intercept_off_is_seen(build_dir):
    """The comparison can fail: the model with one intercept one LSB higher."""
    import json
    from hw.spec import Spec
    spec = _tables(build_dir)["reciprocal"]
    doc = json.loads(spec.dumps())
    doc["intercepts"]["values"][1] += 1
    bad_spec = Spec.from_json(doc)
    codes = np.arange(spec.input.min_code, spec.input.max_code + 1)
    got, _ = _run(spec, codes)
    assert (np.array(got) != evaluate(bad_spec, codes)).any()
