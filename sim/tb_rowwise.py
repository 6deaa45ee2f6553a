"""cocotb bench of the row-wise units (softmax, layernorm): every output of
every row == golden model, under random input gaps and output back-pressure.

``GQA_UNIT_DIR`` names the unit directory; ``GQA_SEED`` the random seed.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hw.rowwise import model_from_dir
from sim.runner import write_summary

MAX_REPORTED = 10


def softmax_rows(md, rng: random.Random) -> list[list[int]]:
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_max
    rows = []
    for length in (1, 2, 3, n - 1, n, rng.randint(4, n), rng.randint(4, n)):
        scale = rng.choice([4, 16, 40])
        rows.append([max(lo, min(hi, round(rng.gauss(0, scale)))) for _ in range(length)])
    rows += [[37] * 17, [lo] * n, [hi] * 5]                          # all equal
    base = [rng.randint(-40, 20) for _ in range(20)]
    for pos in (0, 19, 10):                                          # max first, last, middle
        r = list(base)
        r[pos] = 60
        rows.append(r)
    rows.append([rng.choice([lo, hi]) for _ in range(33)])           # saturating inputs
    rows.append([rng.randint(lo, hi) for _ in range(n + 5)])         # too long: flagged
    rows.append([rng.randint(lo, hi) for _ in range(9)])             # and the next row is fine
    return rows


def layernorm_rows(md, rng: random.Random) -> list[list[int]]:
    lo, hi, n = md.input.min_code, md.input.max_code, md.row_len
    rows = []
    for _ in range(6):
        mu, sd = rng.uniform(-30, 30), rng.choice([1, 5, 20, 60])
        rows.append([max(lo, min(hi, round(rng.gauss(mu, sd)))) for _ in range(n)])
    rows += [[-7] * n, [0] * n, [hi] * n, [lo] * n]                  # identical values -> 0
    rows.append([rng.choice([lo, hi]) for _ in range(n)])            # saturating inputs
    rows.append([lo] + [hi] * (n - 1))                               # one outlier
    return rows


async def drive(dut, rows, lasts, rng):
    for row, row_lasts in zip(rows, lasts):
        for v, last in zip(row, row_lasts):
            while True:
                await FallingEdge(dut.clk)
                if rng.random() < 0.25:                              # a gap
                    dut.in_valid.value = 0
                    continue
                dut.in_valid.value, dut.in_data.value, dut.in_last.value = 1, int(v), int(last)
                await ReadOnly()
                if dut.in_ready.value:
                    break                                            # taken at the next edge
    await FallingEdge(dut.clk)
    dut.in_valid.value = 0


async def collect(dut, n_rows, flag, signed, rng, limit):
    rows, cur = [], []
    for _ in range(limit):
        await FallingEdge(dut.clk)
        dut.out_ready.value = int(rng.random() >= 0.3)               # back-pressure
        await ReadOnly()
        if dut.out_valid.value and dut.out_ready.value:
            v = dut.out_data.value
            cur.append((v.to_signed() if signed else v.to_unsigned(), int(getattr(dut, flag).value)))
            if dut.out_last.value:
                rows.append(cur)
                cur = []
                if len(rows) == n_rows:
                    return rows
    return rows


@cocotb.test()
async def rowwise_exact(dut):
    md = model_from_dir(os.environ["GQA_UNIT_DIR"])
    rng = random.Random(int(os.environ.get("GQA_SEED", "1")))
    softmax = hasattr(md, "row_max")
    if softmax:
        rows = softmax_rows(md, rng)
        lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
        want = [md.row(r) for r in rows]                             # (codes, overflow)
        flag = "out_overflow"
    else:
        rows = layernorm_rows(md, rng)
        lasts = [[j == len(r) - 1 for j in range(len(r))] for r in rows]
        lasts[2][5] = True                                           # in_last early: flagged
        lasts[3][-1] = False                                         # in_last missing: flagged
        want = [(md.row(r), not (a[-1] and not any(a[:-1]))) for r, a in zip(rows, lasts)]
        flag = "out_error"
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value, dut.in_valid.value, dut.out_ready.value = 1, 0, 0
    dut.in_data.value, dut.in_last.value = 0, 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    cocotb.start_soon(drive(dut, rows, lasts, random.Random(rng.random())))
    limit = 20 * sum(len(r) + 4 for r in rows) + 1000
    got = await collect(dut, len(rows), flag, md.out.signed, random.Random(rng.random()), limit)
    mism = abs(len(got) - len(rows))
    if mism:
        dut._log.error(f"{len(got)} rows out for {len(rows)} rows in")
    reported = 0
    for i, (g, (y, fl)) in enumerate(zip(got, want)):
        codes = [c for c, _ in g]
        flags = {f for _, f in g}
        bad = len(codes) != len(y) or flags != {int(fl)} or any(int(a) != int(b) for a, b in zip(codes, y))
        if bad:
            mism += 1
            if reported < MAX_REPORTED:
                reported += 1
                dut._log.error(f"row {i} (len {len(rows[i])}): got {codes[:8]}.. flag {flags}, "
                               f"want {list(map(int, y[:8]))}.. flag {int(fl)}")
    vectors = sum(len(y) for y, _ in want)
    write_summary(vectors=vectors, mismatches=mism, rows=len(rows))
    dut._log.info(f"{len(rows)} rows, {vectors} outputs, {mism} mismatching rows")
    assert mism == 0, f"{mism} rows differ from the golden model"
