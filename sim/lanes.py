"""Lanes in the cocotb benches (``LANES=P`` units, :mod:`hw.pwl_common`).

A bench has one sequence of n input vectors (every code up to 16 input
bits; specials, breakpoints and random codes for 32-bit and FP32 inputs).
A P-lane unit runs it in n clocks: at step t lane i gets vector
``(t + i*n//P) mod n``, i.e. lane i runs the sequence rotated by ``i*n/P``.
So every lane gets a different vector in every clock (for n >= P) and every
vector reaches every lane; the expected output of lane i at step t is the
golden model's output for that vector. One lane is the scalar bench
unchanged (the sequence itself, in order).

The handoff package's Verilog bench uses the same rotation
(:mod:`hw.handoff.tb`).
"""

from __future__ import annotations

import numpy as np

from hw.fixed import pack_lanes


def offsets(n: int, lanes: int) -> list[int]:
    """Lane i's rotation: ``i*n//lanes``."""
    return [i * n // lanes for i in range(lanes)]


def schedule(n: int, lanes: int) -> np.ndarray:
    """``(n, lanes)`` vector indices: row t, column i = lane i's vector at step t."""
    return (np.arange(n, dtype=np.int64)[:, None] + np.asarray(offsets(n, lanes), dtype=np.int64)[None, :]) % max(n, 1)


#: one port word from per-lane values (the row-wise units' vectors use the same function)
pack = pack_lanes


def unpack(word: int, lanes: int, width: int, signed: bool) -> list[int]:
    """Per-lane values of a port word (sign-extended when ``signed``)."""
    mask, top = (1 << width) - 1, 1 << (width - 1)
    out = []
    for i in range(lanes):
        v = (word >> (i * width)) & mask
        out.append(v - (1 << width) if signed and v & top else v)
    return out
