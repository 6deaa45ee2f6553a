"""Pieces shared by the integer and the FP32 PWL generators: argument
checks, the port signature, the table storage (``LUT=rom|regs``), the lanes
and the pipeline plumbing. The datapaths themselves stay in their own modules.

Lanes (``lanes`` = P in :data:`LANES`): P inputs and P results per clock
through flat vector ports, lane i in bits ``[i*w, (i+1)*w)`` of ``x`` (w =
the input width) and of ``y`` (w = the output width). The table is built once
(:func:`table`: constants, or ONE register bank with one ``cfg_*`` port) and
P copies of the datapath read it (:func:`lanes_of` gives each its slices and
its signal-name prefix ``l<i>_``); ``in_valid``/``out_valid`` are one bit for
the whole vector. One lane is exactly the scalar unit (same ports, same
names, same Verilog)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Shape, Signal, Value, unsigned
from amaranth.lib.wiring import In, Out


LUT_MODES = ("rom", "regs")
#: STAGES range of the element-wise units (0..MAX_STAGES); where each STAGES puts its registers:
#: hw.pwl_int.unit.CUTS (integer and uniform units), hw.pwl_fp32.unit.CUTS (FP32), DESIGN.md
#: "Latency and STAGES"
MAX_STAGES = 14
#: from this STAGES on, the data registers (pipeline cuts and the output register) have no reset:
#: only the valid bits (and a LUT=regs table) do. rst otherwise fans out to every data flip-flop,
#: and that net alone was the slowest path of the deeper INT32 pipelines (OpenSTA)
RESETLESS_FROM = 4
#: lane counts of an element-wise unit (LANES=P)
LANES = (1, 2, 4, 8, 16, 32)


def check_args(stages: int, lut: str, lanes: int = 1) -> None:
    if lut not in LUT_MODES:
        raise ValueError(f"lut must be one of {LUT_MODES}, not {lut!r}")
    if not 0 <= stages <= MAX_STAGES:
        raise ValueError(f"stages must be 0..{MAX_STAGES}, not {stages}")
    if isinstance(lanes, bool) or lanes not in LANES:
        raise ValueError(f"lanes must be one of {LANES}, not {lanes!r}")


def vector_shapes(x_shape, y_shape, lanes: int = 1):
    """Port shapes of ``x`` and ``y``: the lane's shapes for one lane, else
    flat unsigned vectors of ``lanes`` times their widths."""
    if lanes == 1:
        return x_shape, y_shape
    return (unsigned(lanes * Shape.cast(x_shape).width), unsigned(lanes * Shape.cast(y_shape).width))


def lanes_of(unit, x_shape, y_shape) -> list[tuple]:
    """``[(x_i, y_i, prefix_i)]``, one per lane: lane i's input (a slice of
    ``x``, read as ``x_shape``), its output (the slice of ``y`` to drive) and
    the prefix of its signals' names. One lane: ``x``, ``y`` themselves and no
    prefix, so the scalar unit's Verilog is unchanged."""
    lanes = getattr(unit, "lanes", 1)
    if lanes == 1:
        return [(unit.x, unit.y, "")]
    xs, ys = Shape.cast(x_shape), Shape.cast(y_shape)
    out = []
    for i in range(lanes):
        x = unit.x[i * xs.width:(i + 1) * xs.width]
        out.append((x.as_signed() if xs.signed else x, unit.y[i * ys.width:(i + 1) * ys.width], f"l{i}_"))
    return out


def signature(spec, stages: int, lut: str, x_shape, y_shape, lanes: int = 1, *, regmap) -> dict:
    """Ports of an element-wise unit of any impl (names fixed by DESIGN.md, "Element-wise units");
    ``lanes`` > 1: ``x``/``y`` are flat vectors of that many lanes; ``cfg_addr``/``cfg_data``
    sized by ``regmap``, the unit's own implementation's ``regmap`` module (passed by the unit,
    so that no unit imports the registry, :mod:`hw.impls`, which imports the units)."""
    x_shape, y_shape = vector_shapes(x_shape, y_shape, lanes)
    sig = {"x": In(x_shape), "y": Out(y_shape)}
    if stages:
        sig.update(in_valid=In(1), out_valid=Out(1))
    if lut == "regs":
        sig.update(cfg_we=In(1), cfg_addr=In(regmap.addr_bits(spec)), cfg_data=In(regmap.data_bits(spec)))
    return sig


def table(m: Module, unit, columns) -> list[list]:
    """``columns`` = [(values, shape)] for breakpoints, slopes, intercepts, in
    register-map order. ``rom``: the values themselves (constants); ``regs``:
    registers reset to them and written through ``cfg_*`` (map in
    :mod:`hw.lut_image`)."""
    if unit.lut == "rom":
        return [[Const(int(v), shape) for v in vals] for vals, shape in columns]
    regs, addr = [], 0
    for name, (vals, shape) in zip(("bp", "k", "c"), columns):
        col = []
        for i, v in enumerate(vals):
            r = Signal(shape, name=f"{name}{i}", init=int(v))
            with m.If(unit.cfg_we & (unit.cfg_addr == addr)):
                m.d.sync += r.eq(unit.cfg_data[:r.shape().width])
            col.append(r)
            addr += 1
        regs.append(col)
    return regs


def stager(m: Module, cuts, prefix: str = "", reset_less: bool = False, named: bool = True):
    """``stage(cut, name, value, shape=None)``: ``value`` as a signal named
    ``prefix + name`` (of ``shape``, default the value's), registered when
    ``cut`` is one of this unit's pipeline cuts; at a cut not taken, a
    combinational signal of that name, or with ``named`` False the value
    itself (no signal at all, so the Verilog of the STAGES without that cut
    is unchanged: the FP32 operators' deeper cuts, :func:`hw.fp32.common.carrier`).
    ``stage.cuts`` is the tuple of cuts. ``reset_less``: the registers ignore
    ``rst`` (data registers of the STAGES >= :data:`RESETLESS_FROM`)."""
    def stage(cut, name, value, shape=None):
        taken = cut in cuts
        if not taken and not named:
            return value
        s = Signal(Value.cast(value).shape() if shape is None else shape, name=prefix + name,
                   reset_less=reset_less)
        if taken:
            m.d.sync += s.eq(value)
        else:
            m.d.comb += s.eq(value)
        return s
    stage.cuts = tuple(cuts)
    return stage


def drive_output(m: Module, unit, value, y=None, valid: bool = True, name: str = "y_q", extra: int = 0) -> None:
    """``y`` (default the port; a lane's slice of it) from ``value``:
    registered, with ``out_valid`` = ``in_valid`` delayed by ``stages`` clocks
    (``valid``: here, or once for all lanes by :func:`drive_valid`), when the
    unit is pipelined. From STAGES :data:`RESETLESS_FROM` on the register is
    ``name`` (the lane's prefix + ``y_q``), without reset, and drives ``y``
    through ``extra`` more registers ``<name>2``, ``<name>3``, ... (a STAGES
    beyond the datapath's cut points: the result delayed, latency = STAGES)."""
    y = unit.y if y is None else y
    if not unit.stages:
        m.d.comb += y.eq(value)
        return
    if unit.stages >= RESETLESS_FROM:
        q = Signal(y.shape(), name=name, reset_less=True)
        m.d.sync += q.eq(value)
        for i in range(extra):
            d = Signal(y.shape(), name=f"{name}{i + 2}", reset_less=True)
            m.d.sync += d.eq(q)
            q = d
        m.d.comb += y.eq(q)
    else:
        m.d.sync += y.eq(value)
    if valid:
        drive_valid(m, unit)


def drive_valid(m: Module, unit) -> None:
    """``out_valid`` = ``in_valid`` delayed by ``stages`` clocks (one bit for all lanes)."""
    if not unit.stages:
        return
    valid = unit.in_valid
    for i in range(unit.stages):
        v = Signal(name=f"valid{i + 1}")
        m.d.sync += v.eq(valid)
        valid = v
    m.d.comb += unit.out_valid.eq(valid)
