"""``ROW_STORE=sram``: a multi-pass row-wise unit that keeps the row in the
chip team's SRAM macro (DESIGN.md "SRAM row store").

The caller streams each row once, as to the flip-flop unit. The row goes
straight into the op's multi-pass unit (``twopass.py``,
pass 1) and, one clock later, into a single-port SRAM through the
``sram_*`` ports; then this wrapper reads the row back from the SRAM and
plays it into the unit once per later pass, with ``in_ready`` low.
So the arithmetic, the pipelines and the clock are the multi-pass unit's,
and the outputs and flags are those of the multi-pass unit's model for a
row streamed once, ``stream_row`` (the buffered unit's, but for softmax,
whose two-pass arithmetic is base 2: ``hw/softmax/online.py``; the replays
are always well formed, so only pass 1 can be flagged).

Why one single-port SRAM: a row is written while pass 1 runs and read
only afterwards, so no clock needs a read and a write (the cheapest macro,
1RW, suffices), and a second buffer would not raise throughput: the unit
takes one element per clock in every pass whoever supplies it.

Why the write is registered: ``sram_*`` are then driven by flip-flops in
the load pass (the macro's setup time does not add to the caller's
``in_valid`` path), at one clock after pass 1's last element, before the
first read.

The read side is a one-word pipeline on the macro's output: a read is
issued when its word will have a place (nothing held, or the held word is
taken in this clock); the word stays on ``sram_rdata`` until the next
read (the macro holds its output), so no extra register is needed.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.rowbuf import named

#: clocks from pass 1's last element to the first replayed element the unit
#: can take: the registered write, then the read and its one-clock latency
REPLAY_START = 3


def sram_ports(words: int, bits: int) -> dict:
    """The macro's side of the unit: one port, synchronous, read latency 1."""
    return {"sram_en": Out(1), "sram_we": Out(1), "sram_addr": Out(max(1, ceil_log2(words))),
            "sram_wdata": Out(bits), "sram_rdata": In(bits)}


class SramStore(wiring.Component):
    """``inner`` (a multi-pass unit: ``PASSES``, ``row_words(model, lanes)``,
    ``FIXED_LENGTH``, ``lanes``) with its row kept in an external single-port
    SRAM of ``row_words`` words, a word per transfer (``in_data``'s bits: P
    elements with P lanes). Ports: the inner unit's, plus :func:`sram_ports`."""

    def __init__(self, inner):
        self.inner = inner
        md = inner.model
        self.words = inner.row_words(md, inner.lanes)
        self.bits = Shape.cast(inner.signature.members["in_data"].shape).width
        sig = dict(inner.signature.members)
        sig.update(sram_ports(self.words, self.bits))
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = u = self.inner
        words, passes = self.words, self.inner.PASSES
        # everything but the row's input goes straight through
        for name, member in self.inner.signature.members.items():
            if name.startswith("in_"):
                continue
            if member.flow is wiring.Flow.In:
                m.d.comb += getattr(u, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(u, name))

        loading = Signal(init=1)                      # pass 1: the caller's row
        replays = Signal(range(passes))               # later passes still to play
        widx = Signal(range(words + 1))               # elements of pass 1 seen, up to words
        kept = Signal(range(words + 1))               # the row's length in the SRAM
        wr_pending = Signal()
        wr_addr = Signal(range(max(words, 2)))
        wr_data = Signal(self.bits, reset_less=True)
        ridx = Signal(range(words + 1))               # next address to read
        q_valid, q_last = Signal(), Signal()          # a read word on sram_rdata, not yet taken

        # -- pass 1: the caller's row into the unit, and into the SRAM a clock later
        m.d.comb += self.in_ready.eq(loading & u.in_ready)
        take_in = named(m, "take_in", self.in_valid & self.in_ready)
        room = named(m, "room", widx < words)
        if self.inner.FIXED_LENGTH:                   # n elements, in_last checked by the unit
            ends = named(m, "pass1_ends", widx == words - 1)
        else:                                         # ends at in_last; elements past words are dropped
            ends = self.in_last
        m.d.sync += wr_pending.eq(take_in & room)
        with m.If(take_in):
            m.d.sync += [wr_addr.eq(widx), wr_data.eq(self.in_data)]
            with m.If(room):
                m.d.sync += widx.eq(widx + 1)
            with m.If(ends):
                m.d.sync += [loading.eq(0), widx.eq(0), ridx.eq(0), replays.eq(passes - 1),
                             kept.eq(Mux(room, widx + 1, words))]

        # -- later passes: read, hold on the macro's output until the unit takes it
        taken = named(m, "replay_taken", ~loading & q_valid & u.in_ready)
        issue = named(m, "issue", ~loading & ~wr_pending & (ridx < kept) & (~q_valid | u.in_ready))
        m.d.sync += q_valid.eq(issue | (q_valid & ~u.in_ready))
        with m.If(issue):
            m.d.sync += [ridx.eq(ridx + 1), q_last.eq(ridx == kept - 1)]
        with m.If(taken & q_last):
            m.d.sync += [ridx.eq(0), replays.eq(replays - 1)]
            with m.If(replays == 1):
                m.d.sync += loading.eq(1)

        m.d.comb += [
            self.sram_en.eq(wr_pending | issue), self.sram_we.eq(wr_pending),
            self.sram_addr.eq(Mux(wr_pending, wr_addr, ridx)), self.sram_wdata.eq(wr_data),
            u.in_valid.eq(Mux(loading, self.in_valid, q_valid)),
            u.in_data.eq(Mux(loading, self.in_data, self.sram_rdata)),
            u.in_last.eq(Mux(loading, self.in_last, q_last)),
        ]
        return m


def timing(inner_cls, model, lanes: int = 1) -> dict:
    """Clocks per row (a*n + b) and from a row's last input to its first
    output, at full rate, from the multi-pass unit's gaps between passes
    (``timing()["gaps"]``: clocks from one pass's last element to the next
    pass's first): the first replay needs :data:`REPLAY_START` clocks, a
    later one 2 (the read, then its word); the caller's next row follows the
    last replayed element as it follows the caller's last pass."""
    t = inner_cls.timing(model, lanes)
    gaps = t["gaps"]
    ours = [max(g, REPLAY_START if i == 0 else 2) for i, g in enumerate(gaps)]
    a, b = t["cycles_per_row"]
    p = len(gaps) + 1
    out_key = f"pass{p}_in_to_out"
    first = [p - 2, sum(ours) - (p - 2) + t[out_key][1]]
    out = {"cycles_per_row": [a, b + sum(ours) - sum(gaps)], "last_in_to_first_out": first}
    if lanes > 1:
        out["per"] = "transfer"
    return out


def describe(inner_cls, model, lanes: int = 1) -> dict:
    """The SRAM unit's part of its manifest, from its multi-pass unit's: the
    caller's protocol is the buffered unit's (one pass), the clocks are the
    multi-pass unit's plus the replay's start where no calc hides it."""
    d = inner_cls.describe(model, lanes)
    words, bits, passes = inner_cls.row_words(model, lanes), lanes * model.input.bits, inner_cls.PASSES
    params = {k: v for k, v in d["parameters"].items() if k != "passes"}
    params.update({"row_store": "sram", "sram_words": words, "sram_bits": bits})
    t = timing(inner_cls, model, lanes)
    (a, b), (la, lb) = t["cycles_per_row"], t["last_in_to_first_out"]
    m = "n" if lanes == 1 else "m"
    more = f"{passes - 1} more pass" + ("es" if passes > 2 else "")
    return dict(d, parameters=params, timing=t,
                cycles_per_row=f"{a}{m} + {b} per row of n" + (f" in m = ceil(n/{lanes}) transfers" if lanes > 1 else "")
                               + ", the row streamed once; the unit replays it from the "
                               f"SRAM for {more} with in_ready low; in_valid and out_ready high",
                latency_cycles=(f"{la}{m} + {lb}" if la else f"{lb}") + " clocks from a row's last input to its "
                               "first output (idle unit)",
                sram={"words": words, "bits": bits, "ports": "single port, synchronous, read latency 1; "
                      "sram_rdata holds the last word read until the next read"})


def sram_unit(inner_cls):
    """The ``ROW_STORE=sram`` unit class of a multi-pass unit class, for an
    op's ``STORES`` (built from a model, with a ``describe(model)``)."""
    class Unit(SramStore):
        def __init__(self, model, lanes: int = 1):
            super().__init__(inner_cls(model, lanes))

        @staticmethod
        def describe(model, lanes: int = 1) -> dict:
            return describe(inner_cls, model, lanes)

    Unit.__name__ = Unit.__qualname__ = f"Sram{inner_cls.__name__}"
    return Unit
