"""cocotb bench of the row-wise units (softmax, layernorm, rmsnorm): every
output of every row == golden model, bit for bit, its flag included, in
three phases of one test (one test, so ``make sim`` counts one per unit).
A multi-pass unit (``ROW_STORE=none``) gets every row once per pass
(:func:`hw.rowwise.transfers`), and some rows with the last pass's
``in_last`` misplaced where pass 1's is not, and the other way round:

1. **throughput**: back-to-back rows of one length with ``in_valid`` and
   ``out_ready`` always high; the clocks between consecutive rows' last
   outputs must equal the manifest's ``timing.cycles_per_row`` (a*n + b)
   exactly, and the first row's last-input-to-first-output delay its
   ``timing.last_in_to_first_out`` (P passes: from the first input of
   pass P, ``timing.passP_in_to_out``);
2. **random**: rows of every kind with random gaps on ``in_valid`` (a
   rate per row, some rows without gaps) and random ``out_ready``
   back-pressure (a rate changing over time), both at once, so rows are
   loaded while the previous one is stalled;
3. **affine layernorm / rmsnorm only**: random gamma/beta (extremes included) are
   written through ``cfg_*`` and phase 2's kind of rows run again against
   the model with those tables. Phases 1-2 check the generated contents.

A ``ROW_STORE=sram`` unit runs with the SRAM model of :mod:`sim.sram`
(``GQA_SRAM_FAULT=<address>`` breaks one of its words: the negative test).

``GQA_UNIT_DIR`` names the unit directory; ``GQA_SEED`` the random seed.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hw.rowwise import lanes, model_from_dir, passes, stimulus, transfers
from sim import bus, sram
from sim.runner import write_summary

MAX_REPORTED = 10


def stream(md, n_passes, rows, lasts, seconds=None, n_lanes=1):
    """(input transfers per row, [(codes, flags)] per row): the rows as the
    unit's protocol carries them (``seconds``: the last pass's in_last flags, per row or None;
    ``n_lanes`` > 1: packed transfers, :func:`hw.rowwise.lane_transfers`)."""
    seconds = seconds or [None] * len(rows)
    both = [transfers(md, n_passes, r, a, b, n_lanes) for r, a, b in zip(rows, lasts, seconds)]
    return [t for t, _ in both], [w for _, w in both]


async def stream_full_rate(dut, rows, flag, signed):
    """Every row's transfers back to back, in_valid and out_ready always
    high; returns the outputs per row and, per row, the clocks of its input
    transfers, its first output and its last output (clock 0: the first transfer)."""
    stream = [(v, last, i) for i, r in enumerate(rows) for v, last in r]
    got = [[] for _ in rows]
    t_in, t_first, t_last = {}, {}, {}
    k, cyc, limit = 0, 0, 10 * len(stream) + 1000
    while len(t_last) < len(rows) and cyc < limit:
        await FallingEdge(dut.clk)
        if k < len(stream):
            v, last, _ = stream[k]
            dut.in_valid.value, dut.in_data.value, dut.in_last.value = 1, int(v), int(last)
        else:
            dut.in_valid.value = 0
        dut.out_ready.value = 1
        await ReadOnly()
        if k < len(stream) and dut.in_ready.value:
            t_in.setdefault(stream[k][2], []).append(cyc)
            k += 1
        if dut.out_valid.value:
            row = len(t_last)
            t_first.setdefault(row, cyc)
            v = dut.out_data.value
            got[row].append((v.to_signed() if signed else v.to_unsigned(), int(getattr(dut, flag).value)))
            if dut.out_last.value:
                t_last[row] = cyc
        cyc += 1
    await FallingEdge(dut.clk)
    dut.in_valid.value = 0
    return got, t_in, t_first, t_last


def compare(dut, got, want, rows, tag) -> int:
    mism = abs(len(got) - len(want))
    if mism:
        dut._log.error(f"{tag}: {len(got)} rows out for {len(want)} rows in")
    reported = 0
    for i, (g, (y, fl)) in enumerate(zip(got, want)):
        codes = [c for c, _ in g]
        flags = [f for _, f in g]
        if len(codes) != len(y) or flags != [int(f) for f in fl] or any(int(a) != int(b) for a, b in zip(codes, y)):
            mism += 1
            if reported < MAX_REPORTED:
                reported += 1
                bad = next((j for j, (a, b) in enumerate(zip(codes, y)) if int(a) != int(b)), None)
                dut._log.error(f"{tag} row {i} (len {len(rows[i])}): got {codes[:8]}.. flags {flags[:8]}.., "
                               f"want {list(map(int, y[:8]))}.. flags {list(map(int, fl[:8]))}..; first "
                               f"difference at {bad}")
    return mism


def param_words(md, gamma, beta) -> list[tuple[int, int]]:
    """gamma_i at address i, beta_i at row_len + i (two's complement words)."""
    words = [(i, g & ((1 << md.gamma_fmt.bits) - 1)) for i, g in enumerate(gamma)]
    return words + [(md.row_len + i, b & ((1 << md.beta_fmt.bits) - 1)) for i, b in enumerate(beta)]


async def random_phase(dut, md, n_passes, rows, lasts, flag, rng, tag, seconds=None, n_lanes=1
                       ) -> tuple[int, int]:
    """Mismatching rows and outputs compared."""
    ins, want = stream(md, n_passes, rows, lasts, seconds, n_lanes)
    # input gaps whose rate changes from row to row, back-pressure that comes and goes
    gap = bus.varying(random.Random(rng.random()), rates=(0.0, 0.0, 0.25, 0.6), every=max(len(r) for r in rows))
    cocotb.start_soon(bus.send_rows(dut, [[v for v, _ in t] for t in ins], [[a for _, a in t] for t in ins], gap))
    limit = 40 * sum(len(t) + 40 for t in ins) + 1000
    got = await bus.receive_rows(dut, len(rows), flag, md.out.signed and n_lanes == 1,
                                 bus.varying(random.Random(rng.random())), limit)
    return compare(dut, got, want, rows, tag), sum(len(g) for g in got)


@cocotb.test()
async def rowwise_exact(dut):
    unit_dir = Path(os.environ["GQA_UNIT_DIR"])
    md = model_from_dir(unit_dir)
    man = json.loads((unit_dir / "manifest.json").read_text())
    timing, n_passes, n_lanes = man["timing"], passes(man), lanes(man)
    rng = random.Random(int(os.environ.get("GQA_SEED", "1")))
    stim = stimulus(md)
    flag = md.flag
    affine = getattr(md, "affine", False)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    if "sram" in man:                        # ROW_STORE=sram: the chip's macro, modelled
        fault = os.environ.get("GQA_SRAM_FAULT")
        cocotb.start_soon(sram.run(dut, man["sram"]["words"], random.Random(rng.random()),
                                   int(fault) if fault else None))
    dut.rst.value, dut.in_valid.value, dut.out_ready.value = 1, 0, 0
    dut.in_data.value, dut.in_last.value = 0, 0
    if affine:
        dut.cfg_we.value, dut.cfg_addr.value, dut.cfg_data.value = 0, 0, 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    mism, vectors, n_rows, problems = 0, 0, 0, []

    # 1. throughput and latency against the manifest's figures
    measured = {}
    for n in stim.timing_lengths(md):
        lo, hi = md.input.min_code, md.input.max_code
        rows = [[rng.randint(lo, hi) for _ in range(n)] for _ in range(6)]
        lasts = [[j == n - 1 for j in range(n)] for _ in rows]
        ins, want = stream(md, n_passes, rows, lasts, n_lanes=n_lanes)
        got, t_in, t_first, t_last = await stream_full_rate(dut, ins, flag, md.out.signed and n_lanes == 1)
        m = -(-n // n_lanes)                 # transfers per pass: the timing's unit (n with one lane)
        mism += compare(dut, got, want, rows, f"full-rate n={n}")
        vectors += sum(len(g) for g in got)
        n_rows += len(rows)
        a, b = timing["cycles_per_row"]
        periods = sorted({t_last[i] - t_last[i - 1] for i in range(1, len(rows)) if i in t_last})
        # one pass: from the row's last input; P passes: from the first input of pass P
        key = f"pass{n_passes}_in_to_out" if n_passes > 1 else "last_in_to_first_out"
        a2, b2 = timing[key]
        lat = t_first.get(0, -1) - t_in.get(0, [0] * (n_passes * m))[(n_passes - 1) * m if n_passes > 1 else -1]
        measured[m] = {"cycles_per_row": periods, key: lat}
        dut._log.info(f"n={n}: clocks per row {periods} (documented {a * m + b}), "
                      f"last input to first output {lat} (documented {a2 * m + b2})")
        if periods != [a * m + b]:
            problems.append(f"n={n}: measured {periods} clocks per row, documented {a * m + b}")
        if lat != a2 * m + b2:
            problems.append(f"n={n}: last input to first output {lat} clocks, documented {a2 * m + b2}")

    # 2. random gaps and back-pressure, every kind of row
    rows = stim.bench_rows(md, rng)
    lasts, seconds = stim.bench_lasts(md, rows, n_passes)
    bad, seen = await random_phase(dut, md, n_passes, rows, lasts, flag, rng, "random", seconds, n_lanes)
    mism += bad
    vectors += seen
    n_rows += len(rows)

    # 3. gamma/beta loaded through the write port
    if affine:
        gf, bf = md.gamma_fmt, md.beta_fmt
        gamma = [rng.choice([gf.min_code, gf.max_code, 0, 1 << gf.frac]) if rng.random() < 0.2
                 else rng.randint(gf.min_code, gf.max_code) for _ in range(md.row_len)]
        beta = [rng.choice([bf.min_code, bf.max_code, 0]) if rng.random() < 0.2
                else rng.randint(bf.min_code, bf.max_code) for _ in range(md.row_len)]
        await bus.write_cfg(dut, param_words(md, gamma, beta))
        # RMSNorm holds no beta: the beta words it is sent must change nothing
        md2 = md.with_params(gamma, beta if md.has_beta else [0] * md.row_len)
        rows = stim.bench_rows(md2, rng)
        lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
        bad, seen = await random_phase(dut, md2, n_passes, rows, lasts, flag, rng, "loaded gamma/beta",
                                       n_lanes=n_lanes)
        mism += bad
        vectors += seen
        n_rows += len(rows)

    vectors *= n_lanes                       # lane results compared (every lane of every transfer, padding included)
    write_summary(vectors=vectors, mismatches=mism, rows=n_rows, timing=measured)
    dut._log.info(f"{n_rows} rows, {vectors} outputs, {mism} mismatching rows")
    for p in problems:
        dut._log.error(p)
    assert mism == 0, f"{mism} rows differ from the golden model"
    assert vectors > 0, "no output was compared"
    assert not problems, "; ".join(problems)
