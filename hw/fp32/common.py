"""Datapath pieces shared by the binary32 components.

* :func:`operand` unpacks a binary32 word into the fields the arithmetic
  needs (optionally flushing a subnormal to zero first, for FTZ);
* :func:`lzc` counts leading zeros (a parallel priority encoder);
* :func:`round_pack` rounds a significand to 24 bits, nearest-even, and
  packs it with its exponent, detecting overflow to infinity.

The rounding step uses the classic packing identity: for a biased exponent
``E >= 1`` and a 24-bit significand ``s`` whose top bit is the implicit
bit, ``((E - 1) << 23) + s`` is the binary32 word. When the implicit bit is
0 and ``E == 1`` this is the subnormal encoding, and the carry out of a
rounding increment moves into the exponent on its own (subnormal -> smallest
normal, 1.111..1 -> 2.0, largest finite -> infinity). So one adder does
rounding, renormalisation and packing, with no special cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

ROUND_MODES = ("rne", "trunc")   # "trunc" is a deliberately wrong debug mode (mutation test)
NAN = 0x7FC00000
INF = 0x7F800000


@dataclass
class Operand:
    word: Value      # the (possibly flushed) 32-bit word
    sign: Value
    exp: Value       # exponent field, 8 bits
    eexp: Value      # effective exponent: exponent field, or 1 for a subnormal/zero
    mant: Value      # 24-bit significand with the implicit bit (0 for subnormal/zero)
    mag: Value       # 31-bit magnitude: comparing it compares |value| (monotone encoding)
    zero: Value
    inf: Value
    nan: Value


def operand(m: Module, v: Value, ftz: bool, name: str) -> Operand:
    """Unpack ``v``; with ``ftz`` a subnormal reads as zero of the same sign."""
    w = Signal(32, name=f"{name}_w")
    if ftz:
        sub = (v[23:31] == 0) & (v[0:23] != 0)
        m.d.comb += w.eq(Mux(sub, Cat(Const(0, 31), v[31]), v))
    else:
        m.d.comb += w.eq(v)
    exp, frac = w[23:31], w[0:23]
    sig = {k: Signal(n, name=f"{name}_{k}") for k, n in
           (("eexp", 8), ("mant", 24), ("zero", 1), ("inf", 1), ("nan", 1))}
    norm = exp != 0
    m.d.comb += [
        sig["eexp"].eq(Mux(norm, exp, 1)),
        sig["mant"].eq(Cat(frac, norm)),
        sig["zero"].eq(w[0:31] == 0),
        sig["inf"].eq((exp == 0xFF) & (frac == 0)),
        sig["nan"].eq((exp == 0xFF) & (frac != 0)),
    ]
    return Operand(word=w, sign=w[31], exp=exp, mag=w[0:31], **sig)


def lzc(m: Module, v: Value, name: str) -> Signal:
    """Number of leading zeros of ``v`` (``len(v)`` when ``v`` is zero).

    Written as one ``casez`` with don't-care patterns (``1---``, ``01--``,
    ...): a parallel priority encoder. Synthesis (ABC) restructures it into
    a log-depth network on its own, and an event-driven simulator evaluates
    it as one process instead of a hundred small nets, which keeps the
    Icarus benches fast.
    """
    width = len(v)
    out = Signal(range(width + 1), name=name)
    with m.Switch(v):
        for i in range(width):
            with m.Case("0" * i + "1" + "-" * (width - 1 - i)):
                m.d.comb += out.eq(i)
        with m.Default():
            m.d.comb += out.eq(width)
    return out


def round_pack(m: Module, sig: Value, exp: Value, sticky: Value, round_mode: str,
               name: str) -> tuple[Signal, Signal]:
    """Round ``sig`` to 24 bits and pack it with biased exponent ``exp`` (>= 1).

    ``sig`` (W >= 25 bits) holds the significand with its implicit-bit
    position at bit W-1: the value is ``sig / 2**(W-1) * 2**(exp - 127)``;
    a 0 in bit W-1 with ``exp == 1`` is a subnormal. ``sticky`` ORs any
    nonzero bits already dropped below ``sig``. Returns ``(word, overflow)``:
    the 31 magnitude bits, and whether the result overflowed to infinity.
    """
    if round_mode not in ROUND_MODES:
        raise ValueError(f"round must be one of {ROUND_MODES}, not {round_mode!r}")
    w = len(sig)
    keep = sig[w - 24:]
    guard = sig[w - 25]
    st = Signal(name=f"{name}_sticky")
    m.d.comb += st.eq((sig[:w - 25] != 0) | sticky if w > 25 else sticky)
    up = Signal(name=f"{name}_round_up")
    if round_mode == "rne":
        m.d.comb += up.eq(guard & (st | keep[0]))
    else:
        m.d.comb += up.eq(0)
    packed = Signal(len(exp) + 24, name=f"{name}_packed")
    m.d.comb += packed.eq(((exp - 1) << 23) + keep + up)
    ovf = Signal(name=f"{name}_overflow")
    m.d.comb += ovf.eq(packed >= INF)
    return packed[:31], ovf


class BinaryOp(wiring.Component):
    """A binary32 operator ``y = op(a, b)`` as a stand-alone component.

    Subclasses set ``build`` to the datapath function (``multiply``,
    ``addition``) that the FP32 PWL unit also calls, so the component and the
    unit share every gate. ``ftz``: flush subnormal inputs and results to
    signed zero. ``round``: ``"rne"``; ``"trunc"`` is a broken debug mode
    for mutation tests.
    """

    build = None

    def __init__(self, ftz: bool = False, round: str = "rne"):
        if round not in ROUND_MODES:
            raise ValueError(f"round must be one of {ROUND_MODES}, not {round!r}")
        self.ftz, self.round = bool(ftz), round
        super().__init__({"a": In(32), "b": In(32), "y": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(type(self).build(m, self.a, self.b, self.ftz, self.round))
        return m
