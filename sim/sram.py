"""The benches' model of the chip's SRAM macro for ``ROW_STORE=sram`` units
(DESIGN.md "SRAM row store"): one port, synchronous; at a rising edge with
``sram_en`` high, ``sram_we`` high writes ``sram_wdata`` at ``sram_addr``,
low reads it, and the word appears on ``sram_rdata`` after that edge and
stays until the next read. The handoff's Verilog model
(:func:`hw.handoff.tb.sram_model`) is the same contract.

Words never written read as random bits (a unit that reads one shows it).
``fault`` (the negative test) flips bit 0 of the word at that address on
every read of it.
"""

from __future__ import annotations

import random

from cocotb.triggers import FallingEdge, ReadOnly


async def run(dut, words: int, rng: random.Random, fault: int | None = None) -> None:
    bits = len(dut.sram_wdata)
    mem = [rng.getrandbits(bits) for _ in range(words)]
    word = None                               # read at the last rising edge, driven at the falling one
    dut.sram_rdata.value = 0
    while True:
        await FallingEdge(dut.clk)
        if word is not None:
            dut.sram_rdata.value = word
            word = None
        await ReadOnly()                      # the port's values at the coming rising edge
        if dut.sram_en.value != 1:
            continue
        addr = dut.sram_addr.value.to_unsigned()
        assert addr < words, f"SRAM address {addr} out of range (the macro has {words} words)"
        if dut.sram_we.value == 1:
            mem[addr] = dut.sram_wdata.value.to_unsigned()
        else:
            word = mem[addr] ^ (1 if addr == fault else 0)
