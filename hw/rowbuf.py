"""RTL pieces shared by the row-wise units (softmax, layernorm): the
ping-pong row-buffer plumbing and two arithmetic helpers.

A unit has one or two row buffers in one memory (buffer b at addresses
``b*depth ..``). With two, a buffer select is a 1-bit register that the
stages flip at a row boundary; with one, it is the constant 0, and every
helper below derives that case from the select itself (no buffer-count
argument to keep in step).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal

ROW_BUFFERS = (1, 2)


def check_row_buffers(row_buffers, what: str = "row buffers") -> int:
    """``row_buffers`` if it is 1 or 2; ValueError naming ``what`` otherwise."""
    if row_buffers not in ROW_BUFFERS:
        raise ValueError(f"{what} {row_buffers} is out of range: use 1 or 2")
    return row_buffers


def bank_signal(row_buffers: int, name: str):
    """A buffer select: a register with two buffers, constant 0 with one."""
    return Signal(name=name) if row_buffers == 2 else Const(0, 1)


def _single(bank) -> bool:
    return isinstance(bank, Const)


def pick(bank, items):
    """``items[bank]`` for a list of one or two per-buffer values."""
    return items[0] if len(items) == 1 else Mux(bank, items[1], items[0])


def flip(bank) -> list:
    """Statements that hand over to the other buffer (none with one)."""
    return [] if _single(bank) else [bank.eq(~bank)]


def copy_bank(dst, src) -> list:
    """``dst = src`` for buffer selects (none with one buffer: both are 0)."""
    return [] if _single(dst) else [dst.eq(src)]


def buf_addr(bank, i, depth: int):
    """Memory address of element ``i`` of buffer ``bank`` (``depth`` words each)."""
    return i if _single(bank) else Mux(bank, i + depth, i)


def leading_one(m: Module, v, name: str):
    """Index of the highest set bit of ``v`` (0 when v is 0)."""
    lead = Signal(range(max(len(v), 2)), name=name)
    for i in range(len(v)):                  # later assignments win: the highest bit
        with m.If(v[i]):
            m.d.comb += lead.eq(i)
    return lead


def round_shift(v, s):
    """``round_half_up(v, s)`` for a variable shift ``s >= 1``: the rounding
    constant is ``(1 << s) >> 1``; the shift is arithmetic for signed ``v``."""
    return (v + ((Const(1, 1) << s) >> 1)) >> s
