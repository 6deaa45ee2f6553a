"""Datapath pieces shared by the binary32 components.

* :func:`operand` unpacks a binary32 word into the fields the arithmetic
  needs (optionally flushing a subnormal to zero first, for FTZ);
* :func:`lzc` counts leading zeros (a parallel priority encoder);
* :func:`round_pack` rounds a significand to 24 bits, nearest-even, and
  packs it with its exponent, detecting overflow to infinity;
* :func:`special_result` is the result multiplexer of an operator: the
  first special case that holds (NaN, a signed infinity or zero), else the
  rounded result;
* :func:`named` gives a step of the datapath its name in the Verilog.

Readable RTL: every field and every step (operand fields, alignment shift,
leading-zero count, normalisation, guard/sticky/round-up, packing, special
cases) is a named signal ``<unit>_<step>`` (``mul_prod``, ``add_align``,
``add_sticky``, ...), so the generated Verilog has no anonymous ``$N``
wires in the datapath.

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


def named(m: Module, name: str, value, shape=None) -> Signal:
    """``value`` as a signal called ``name`` in the generated Verilog.

    The signal has exactly the value's shape (unless ``shape`` is given), so
    the Verilog backend gives the operator's output wire this name; a signal
    of another width would leave the operator's output an anonymous ``$N``
    wire and assign a slice or an extension of it. For a slice or a
    concatenation (no logic) it is a named copy, for probing. Call it
    outside ``m.If``/``m.Switch`` blocks: the assignment is unconditional."""
    value = Value.cast(value)
    sig = Signal(value.shape() if shape is None else shape, name=name)
    m.d.comb += sig.eq(value)
    return sig


def no_cuts(point, name, value):
    """The :func:`carrier` of a datapath without internal pipeline cuts: every value as is."""
    return value


no_cuts.cuts = ()


def carrier(m: Module, cuts, prefix: str = "", reset_less: bool = True):
    """``carry(point, name, value)``: :func:`hw.pwl_common.stager` for the
    operators' internal cuts: ``value`` registered into a signal ``prefix +
    name`` when ``point`` is one of ``cuts`` (no reset by default: data
    registers of the deeper pipelines), else ``value`` itself, so that a
    datapath without that cut has no extra signal at all."""
    from hw.pwl_common import stager
    return stager(m, cuts, prefix, reset_less, named=False)


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
    """Unpack ``v``; with ``ftz`` a subnormal reads as zero of the same sign.

    Every field is a signal ``<name>_<field>`` in the Verilog: ``w`` (the
    word after the flush), ``sign``, ``exp``, ``frac``, ``mag``, ``norm``
    (exponent field nonzero: the implicit bit), ``eexp``, ``mant``,
    ``zero``, ``inf``, ``nan`` (and ``sub``, a subnormal input, with ftz)."""
    v = Value.cast(v)
    if ftz:
        in_exp_zero = named(m, f"{name}_in_exp_zero", v[23:31] == 0)
        in_frac_nz = named(m, f"{name}_in_frac_nz", v[0:23] != 0)
        sub = named(m, f"{name}_sub", in_exp_zero & in_frac_nz)
        w = named(m, f"{name}_w", Mux(sub, Cat(Const(0, 31), v[31]), v))
    else:
        w = named(m, f"{name}_w", v, 32)
    sign = named(m, f"{name}_sign", w[31])
    exp = named(m, f"{name}_exp", w[23:31])
    frac = named(m, f"{name}_frac", w[0:23])
    mag = named(m, f"{name}_mag", w[0:31])
    norm = named(m, f"{name}_norm", exp != 0)
    exp_max = named(m, f"{name}_exp_max", exp == 0xFF)
    frac_zero = named(m, f"{name}_frac_zero", frac == 0)
    frac_nz = named(m, f"{name}_frac_nz", frac != 0)
    return Operand(
        word=w, sign=sign, exp=exp, mag=mag,
        eexp=named(m, f"{name}_eexp", Mux(norm, exp, 1)),
        mant=named(m, f"{name}_mant", Cat(frac, norm)),
        zero=named(m, f"{name}_zero", mag == 0),
        inf=named(m, f"{name}_inf", exp_max & frac_zero),
        nan=named(m, f"{name}_nan", exp_max & frac_nz))


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
               name: str, mid=None) -> tuple[Signal, Signal]:
    """Round ``sig`` to 24 bits and pack it with biased exponent ``exp`` (>= 1).

    ``sig`` (W >= 25 bits) holds the significand with its implicit-bit
    position at bit W-1: the value is ``sig / 2**(W-1) * 2**(exp - 127)``;
    a 0 in bit W-1 with ``exp == 1`` is a subnormal. ``sticky`` ORs any
    nonzero bits already dropped below ``sig``. Returns ``(word, overflow)``:
    the 31 magnitude bits, and whether the result overflowed to infinity.
    ``mid(trunc, up) -> (trunc, up)``: called between the packing add and the
    rounding increment (a pipeline cut there registers both).
    """
    if round_mode not in ROUND_MODES:
        raise ValueError(f"round must be one of {ROUND_MODES}, not {round_mode!r}")
    w = len(sig)
    keep = named(m, f"{name}_keep", sig[w - 24:])            # the 24 bits kept
    guard = named(m, f"{name}_guard", sig[w - 25])
    low_nz = named(m, f"{name}_low_nz", sig[:w - 25] != 0) if w > 25 else None
    if low_nz is None:
        st = named(m, f"{name}_sticky", sticky, 1)
    elif isinstance(sticky, Const) and sticky.value == 0:
        st = named(m, f"{name}_sticky", low_nz)
    else:
        st = named(m, f"{name}_sticky", low_nz | sticky)
    if round_mode == "rne":                                 # ties to even: up on a tie only if odd
        odd_or_sticky = named(m, f"{name}_odd_or_sticky", st | keep[0])
        up = named(m, f"{name}_round_up", guard & odd_or_sticky)
    else:
        up = named(m, f"{name}_round_up", Const(0, 1))
    exp_m1 = named(m, f"{name}_exp_m1", exp - 1)
    exp_field = named(m, f"{name}_exp_field", exp_m1 << 23)
    trunc = named(m, f"{name}_trunc", exp_field + keep)      # packed word before rounding
    if mid is not None:
        trunc, up = mid(trunc, up)
    packed = named(m, f"{name}_packed", trunc + up)
    ovf = named(m, f"{name}_overflow", packed >= INF)
    return packed[:31], ovf


#: the special results :func:`special_result` selects from
SPECIALS = ("nan", "inf", "zero")


def special_result(m: Module, name: str, cases, mag: Value, sign: Value) -> Signal:
    """The operator's result word, the signal ``<name>_y``: for the first
    ``(cond, kind, sign)`` of ``cases`` whose ``cond`` holds, ``kind``'s word
    (``"nan"``: the canonical NaN 0x7FC00000; ``"inf"`` / ``"zero"``: that
    value with ``sign``), in that priority; when none holds, the rounded
    magnitude ``mag`` (31 bits) with ``sign``. One if/elif chain, so the
    operators (:mod:`hw.fp32.mul`, :mod:`hw.fp32.add`) order their special
    cases in one place each and share the multiplexer."""
    res = Signal(32, name=f"{name}_y")
    for i, (cond, kind, s) in enumerate(cases):
        if kind not in SPECIALS:
            raise ValueError(f"special result must be one of {SPECIALS}, not {kind!r}")
        word = NAN if kind == "nan" else Cat(Const(INF if kind == "inf" else 0, 31), s)
        with (m.If(cond) if i == 0 else m.Elif(cond)):
            m.d.comb += res.eq(word)
    with m.Else():
        m.d.comb += res.eq(Cat(mag, sign))
    return res


class BinaryOp(wiring.Component):
    """A binary32 operator ``y = op(a, b)`` as a stand-alone component.

    Subclasses set ``build`` to the datapath function (``multiply``,
    ``addition``) that the FP32 PWL unit also calls, so the component and the
    unit share every gate. ``ftz``: flush subnormal inputs and results to
    signed zero. ``round``: ``"rne"``; ``"trunc"`` is a broken debug mode
    for mutation tests.
    """

    build = None

    def __init__(self, ftz: bool = False, round: str = "rne", cuts=()):
        if round not in ROUND_MODES:
            raise ValueError(f"round must be one of {ROUND_MODES}, not {round!r}")
        self.ftz, self.round, self.cuts = bool(ftz), round, tuple(cuts)
        super().__init__({"a": In(32), "b": In(32), "y": Out(32)})

    def elaborate(self, platform):
        """``cuts``: the operator's internal pipeline cuts (``mul_*``/``add_*``, as the FP32 PWL
        unit takes them; ports ``clk``, ``rst``): ``y`` is ``op(a, b)`` of the operands
        presented that many clocks before (``latency``)."""
        m = Module()
        carry = carrier(m, self.cuts) if self.cuts else no_cuts
        kw = {"carry": carry} if self.cuts else {}
        m.d.comb += self.y.eq(type(self).build(m, self.a, self.b, self.ftz, self.round, **kw))
        return m
