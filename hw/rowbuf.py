"""RTL pieces shared by the row-wise units (softmax, layernorm): the
ping-pong row-buffer plumbing, two arithmetic helpers, and the
:mod:`amaranth.lib.stream` view of a unit (:class:`RowStream`).

A unit has one or two row buffers in one memory (buffer b at addresses
``b*depth ..``). With two, a buffer select is a 1-bit register that the
stages flip at a row boundary; with one, it is the constant 0, and every
helper below derives that case from the select itself (no buffer-count
argument to keep in step).

Naming: every signal a designer would probe is named in the Verilog
(:func:`named` gives an operator's output wire a name; :func:`mem_ports`
names the buffers' address, data and enable wires ``<buf>_wr__addr``,
``<buf>_rd__data``, ...), so only pure expression temporaries, the
flip-flops' next-state values (Amaranth folds the synchronous reset into
them) and an FSM's state decoding stay anonymous ``$N``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.fp32.common import named      # the one naming helper (also the FP32 datapath's)

ROW_BUFFERS = (1, 2)
#: the default: the next row loads while one is processed
DEFAULT_BUFFERS = ROW_BUFFERS[-1]


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


def flip(bank, m: Module | None = None) -> list:
    """Statements that hand over to the other buffer (none with one); with
    ``m`` the other buffer's select is the signal ``<bank>_other``."""
    if _single(bank):
        return []
    return [bank.eq(~bank if m is None else named(m, f"{bank.name}_other", ~bank))]


def bank_is(m: Module, bank, b: int):
    """``bank == b`` as the signal ``<bank>_is<b>`` (the constant 1 with one buffer)."""
    return Const(int(bank.value == b), 1) if _single(bank) else named(m, f"{bank.name}_is{b}", bank == b)


def mem_ports(mem, name: str, write: bool = True):
    """``(write port, asynchronous read port)`` of ``mem``, their signals named
    ``<name>_wr__addr``, ``<name>_wr__data``, ``<name>_wr__en``, ``<name>_rd__addr``,
    ``<name>_rd__data`` (``Memory.write_port()`` would leave them ``$signature__*``)."""
    aw = ceil_log2(mem.depth)
    wr = WritePort(WritePort.Signature(addr_width=aw, shape=mem.shape), memory=mem, domain="sync",
                   path=(f"{name}_wr",)) if write else None
    rd = ReadPort(ReadPort.Signature(addr_width=aw, shape=mem.shape), memory=mem, domain="comb",
                  path=(f"{name}_rd",))
    return wr, rd


def copy_bank(dst, src) -> list:
    """``dst = src`` for buffer selects (none with one buffer: both are 0)."""
    return [] if _single(dst) else [dst.eq(src)]


def buf_addr(m: Module, bank, i, depth: int, name: str):
    """Memory address of element ``i`` of buffer ``bank`` (``depth`` words
    each), as the signal ``name`` with two buffers (``<name>_hi``: ``i + depth``)."""
    if _single(bank):
        return i
    return named(m, name, Mux(bank, named(m, f"{name}_hi", i + depth), i))


def leading_one(m: Module, v, name: str):
    """Index of the highest set bit of ``v`` (0 when v is 0)."""
    lead = Signal(range(max(len(v), 2)), name=name)
    for i in range(len(v)):                  # later assignments win: the highest bit
        with m.If(v[i]):
            m.d.comb += lead.eq(i)
    return lead


def round_shift(m: Module, v, s, name: str):
    """``round_half_up(v, s)`` for a variable shift ``s >= 1`` as the signal
    ``name``: the rounding constant is ``(1 << s) >> 1`` (``<name>_unit`` is
    ``1 << s``, ``<name>_half`` the constant), ``<name>_biased`` the value plus it; the shift is arithmetic
    for signed ``v``."""
    unit = named(m, f"{name}_unit", Const(1, 1) << s)
    half = named(m, f"{name}_half", unit >> 1)
    biased = named(m, f"{name}_biased", v + half)
    return named(m, name, biased >> s)


def output_queue(m: Module, unit, depth: int, write, value, last, flag, taken, lanes: int = 1) -> Signal:
    """The output side of a unit without a row store: a queue of ``depth``
    words ``{flag, last, value}`` written with ``write``, read by
    ``out_valid``/``out_ready`` into ``out_data``, ``out_last`` and the unit's
    flag port; returns ``in_flight``, the elements taken (``taken``) and not
    yet delivered, which the unit keeps below ``depth`` (its ``in_ready``):
    then the queue never overflows, and the pipeline in front of it never stalls.

    With ``lanes`` > 1 the queue is one queue per lane (lane 0's holds last
    and the flag), written and read together: one queue of P-lane words
    drove every word's read multiplexer from one address register, a fan-out
    that made it the slowest path of the unit by far (15 MHz at 16 lanes)."""
    ob = len(unit.out_data)
    flag_port = getattr(unit, "out_error", None)
    if flag_port is None:
        flag_port = unit.out_overflow
    w = ob // lanes
    m.submodules.queue = queue = SyncFIFOBuffered(width=w + 2, depth=depth)
    m.d.comb += [queue.w_en.eq(write), queue.w_data.eq(Cat(value[:w], last, flag)),
                 unit.out_valid.eq(queue.r_rdy), queue.r_en.eq(unit.out_ready),
                 unit.out_last.eq(queue.r_data[w]), flag_port.eq(queue.r_data[w + 1])]
    data_out = [queue.r_data[:w]]
    for lane in range(1, lanes):
        q = SyncFIFOBuffered(width=w, depth=depth)
        m.submodules[f"queue{lane}"] = q
        m.d.comb += [q.w_en.eq(write), q.w_data.eq(value[lane * w:(lane + 1) * w]), q.r_en.eq(unit.out_ready)]
        data_out.append(q.r_data)
    m.d.comb += unit.out_data.eq(Cat(*data_out))
    in_flight = Signal(range(depth + 1), name="in_flight")
    out_take = named(m, "out_take", unit.out_valid & unit.out_ready)
    m.d.sync += in_flight.eq(in_flight + taken - out_take)
    return in_flight


class RowStream(wiring.Component):
    """Amaranth-native stream view of a row-wise unit (softmax, layernorm).

    The units keep their flat ports (``in_valid``, ``in_ready``, ``in_data``,
    ``in_last``, ``out_*``: the generated Verilog's ports, DESIGN.md "Stream
    handshake"); this thin wrapper exposes the same handshake as two
    :mod:`amaranth.lib.stream` interfaces, so an Amaranth design can
    ``wiring.connect(m, producer.o, unit.i)``:

    * ``i``: ``In(stream.Signature(in_layout))``, payload
      ``{"data": <in_data shape>, "last": 1}``;
    * ``o``: ``Out(stream.Signature(out_layout))``, payload
      ``{"data": <out_data shape>, "last": 1, <flag>: 1}`` (``overflow`` for
      softmax, ``error`` for layernorm);
    * any ``cfg_*`` ports of the unit, passed through under the same names.

    ``unit`` is the flat unit, elaborated as the submodule ``unit``; nothing
    is added between the two (valid/ready/payload are wires), so timing and
    outputs are the unit's.
    """

    def __init__(self, unit, flag: str):
        self.unit, self.flag = unit, flag
        self.in_layout = data.StructLayout({"data": unit.in_data.shape(), "last": 1})
        self.out_layout = data.StructLayout({"data": unit.out_data.shape(), "last": 1, flag: 1})
        members = {"i": In(stream.Signature(self.in_layout)), "o": Out(stream.Signature(self.out_layout))}
        members.update({k: v for k, v in unit.signature.members.items() if k.startswith("cfg_")})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = u = self.unit
        m.d.comb += [
            u.in_valid.eq(self.i.valid), self.i.ready.eq(u.in_ready),
            u.in_data.eq(self.i.payload.data), u.in_last.eq(self.i.payload.last),
            self.o.valid.eq(u.out_valid), u.out_ready.eq(self.o.ready),
            self.o.payload.data.eq(u.out_data), self.o.payload.last.eq(u.out_last),
            self.o.payload[self.flag].eq(getattr(u, f"out_{self.flag}")),
        ]
        for name in self.signature.members:
            if name.startswith("cfg_"):
                m.d.comb += getattr(u, name).eq(getattr(self, name))
        return m
