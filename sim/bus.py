"""The benches' bus functional models, one of each, shared by every bench:

* :func:`write_cfg`: (address, word) pairs through ``cfg_we``/``cfg_addr``/
  ``cfg_data``, one word per clock (element-wise ``LUT=regs`` tables,
  layernorm gamma/beta);
* :func:`drive_pipeline`: the element-wise units' valid-only stream: one
  input per clock where the pause generator allows, results collected by
  ``out_valid`` and their latency checked;
* :func:`send_rows` / :func:`receive_rows`: the row-wise units' valid/ready
  stream with ``last``: a source with pauses and a sink with back-pressure.

Pauses come from generators (:func:`pauses`), as in cocotbext-axi: a bench
says how often, the model decides when. Signals are driven after a falling
edge and sampled there (or in ``ReadOnly`` before the next rising edge).
"""

from __future__ import annotations

import random
from typing import Callable, Iterator

from cocotb.triggers import FallingEdge, ReadOnly, Timer


def pauses(rng: random.Random, rate: float) -> Iterator[bool]:
    """True with probability ``rate``, forever: a pause (bubble, stall)."""
    while True:
        yield rng.random() < rate


def varying(rng: random.Random, rates=(0.0, 0.3, 0.7, 0.9), every: int = 40) -> Iterator[bool]:
    """Pauses whose rate changes every ``every`` clocks (back-pressure that comes and goes)."""
    while True:
        rate = rng.choice(rates)
        for _ in range(every):
            yield rng.random() < rate


async def write_cfg(dut, words) -> None:
    """Write (address, word) pairs through the cfg port, one per clock."""
    for addr, word in words:
        await FallingEdge(dut.clk)
        dut.cfg_we.value, dut.cfg_addr.value, dut.cfg_data.value = 1, addr, word
    await FallingEdge(dut.clk)
    dut.cfg_we.value = 0


async def settle_each(dut, words) -> list[int]:
    """A combinational unit (STAGES=0): each input word and its output word."""
    got = []
    x, y, settle = dut.x, dut.y, Timer(1, unit="ns")       # looked up once: the loop runs once per vector
    for w in words:
        x.value = w
        await settle
        got.append(y.value.to_unsigned())
    return got


async def drive_pipeline(dut, words, stages: int, pause: Iterator[bool],
                         idle: Callable[[int], int] = lambda cycle: 0) -> tuple[list[int], int]:
    """Feed ``words`` on ``x`` with ``in_valid``, one per clock except where
    ``pause`` says so (``x`` then holds ``idle(cycle)``, a value that must
    not reach ``y``); returns the ``y`` words in arrival order and how many
    did not arrive exactly ``stages`` clocks after their input."""
    got, sent, late = [], [], 0
    i = cycle = 0
    limit = 4 * len(words) + stages + 100
    # the handles and the edge looked up once, in_valid written only when it changes: this loop runs
    # once per clock, and its Python is most of a wide unit's bench time (65,536 or 100,000 clocks)
    x, y, vin, vout, edge = dut.x, dut.y, dut.in_valid, dut.out_valid, FallingEdge(dut.clk)
    valid = None
    while len(got) < len(words) and cycle < limit:
        await edge
        if vout.value:
            k = len(got)
            got.append(y.value.to_unsigned())
            if k >= len(sent) or cycle - sent[k] != stages:
                late += 1
        if i < len(words) and not next(pause):
            x.value, v = words[i], 1
            sent.append(cycle)
            i += 1
        else:
            x.value, v = idle(cycle), 0
        if v != valid:
            vin.value = valid = v
        cycle += 1
    vin.value = 0
    return got, late


async def send_rows(dut, rows, lasts, pause: Iterator[bool]) -> None:
    """Row-wise source: every element with its ``in_last`` flag, waiting for
    ``in_ready``; ``pause`` drops ``in_valid`` between transfers."""
    for row, row_lasts in zip(rows, lasts):
        for v, last in zip(row, row_lasts):
            while True:
                await FallingEdge(dut.clk)
                if next(pause):
                    dut.in_valid.value = 0
                    continue
                dut.in_valid.value, dut.in_data.value, dut.in_last.value = 1, int(v), int(last)
                await ReadOnly()
                if dut.in_ready.value:
                    break                                            # taken at the next edge
    await FallingEdge(dut.clk)
    dut.in_valid.value = 0


async def receive_rows(dut, n_rows: int, flag: str, signed: bool, stall: Iterator[bool], limit: int) -> list:
    """Row-wise sink: ``n_rows`` rows of (out_data, flag) split at
    ``out_last``; ``stall`` drops ``out_ready`` (back-pressure)."""
    rows, cur = [], []
    for _ in range(limit):
        await FallingEdge(dut.clk)
        dut.out_ready.value = int(not next(stall))
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
