"""Pieces shared by the integer and the FP32 PWL generators: argument
checks, the port signature, the table storage (``LUT=rom|regs``) and the
pipeline plumbing. The datapaths themselves stay in their own modules."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib.wiring import In, Out

from hw import lut_image

LUT_MODES = ("rom", "regs")
MAX_STAGES = 3


def check_args(stages: int, lut: str) -> None:
    if lut not in LUT_MODES:
        raise ValueError(f"lut must be one of {LUT_MODES}, not {lut!r}")
    if not 0 <= stages <= MAX_STAGES:
        raise ValueError(f"stages must be 0..{MAX_STAGES}, not {stages}")


def signature(spec, stages: int, lut: str, x_shape, y_shape) -> dict:
    """Ports of an element-wise unit (names fixed by DESIGN.md, "Element-wise units")."""
    sig = {"x": In(x_shape), "y": Out(y_shape)}
    if stages:
        sig.update(in_valid=In(1), out_valid=Out(1))
    if lut == "regs":
        sig.update(cfg_we=In(1), cfg_addr=In(lut_image.addr_bits(spec.entries)),
                   cfg_data=In(lut_image.data_bits(spec)))
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


def stager(m: Module, cuts):
    """``stage(cut, name, value, shape)``: ``value`` as a signal, registered
    when ``cut`` is one of this unit's pipeline cuts."""
    def stage(cut, name, value, shape):
        s = Signal(shape, name=name)
        if cut in cuts:
            m.d.sync += s.eq(value)
        else:
            m.d.comb += s.eq(value)
        return s
    return stage


def drive_output(m: Module, unit, value) -> None:
    """``y`` from ``value``: registered, with ``out_valid`` = ``in_valid``
    delayed by ``stages`` clocks, when the unit is pipelined."""
    if not unit.stages:
        m.d.comb += unit.y.eq(value)
        return
    m.d.sync += unit.y.eq(value)
    valid = unit.in_valid
    for i in range(unit.stages):
        v = Signal(name=f"valid{i + 1}")
        m.d.sync += v.eq(valid)
        valid = v
    m.d.comb += unit.out_valid.eq(valid)
