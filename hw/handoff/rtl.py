"""The handoff RTL: one Verilog file per unit, every module named after the unit.

Amaranth names a submodule ``<top>.<name>`` (an escaped identifier such as
``\\gqa_softmax_int8_e8.exp``). That is legal Verilog, but escaped names trip
up many downstream tools and scripts, so the handoff renames every
submodule to the plain identifier ``<top>__<name>`` (non-identifier
characters become ``_``). Since ``<top>`` already names op, format, entries
and options, two units from this generator never share a module name.

The row buffers of the row-wise units are memories that Amaranth gives an
``initial`` block of zeros; an ``initial`` block is a simulation construct
for ASIC flows, and the buffers are always written before they are read
(the unit stores a row before it reads it back), so the block is removed.
Flip-flops lose their declaration initializers (``reg [7:0] y = 8'h00;``
becomes ``reg [7:0] y;``): every flip-flop of our units is reset by ``rst``
(synchronous, active high; no Amaranth signal is ``reset_less``), so the
initializer only duplicated the reset value, and ASIC flows ignore it
(Verilator -Wall flags it as PROCASSINIT). The one initializer left is
Yosys' constant trigger register (``$auto$verilog_backend...dump_module``),
which no process writes: it only makes event-driven simulators run the
``always @*`` blocks once at time 0, and synthesis removes it.
"""

from __future__ import annotations

import re

_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
# an initial block holding only memory word assignments: `\buf [3] = 8'h00;`
_MEM_INIT_RE = re.compile(r"^  initial begin\n(?:    \\?[A-Za-z_$][\w$.]* ?\[\d+\] = \d+'h[0-9a-fA-F]+;\n)+  end\n",
                          re.M)


class RtlError(ValueError):
    pass


def module_names(text: str) -> list[str]:
    """Module names in ``text`` as written (escaped names keep the backslash)."""
    return _MODULE_RE.findall(text)


def legal_name(top: str, name: str) -> str:
    """Plain Verilog identifier for a module ``name`` of unit ``top``."""
    raw = name[1:] if name.startswith("\\") else name
    if raw == top:
        return top
    rest = raw[len(top) + 1:] if raw.startswith(top + ".") else raw
    return top + "__" + re.sub(r"[^A-Za-z0-9_]", "_", rest.replace(".", "__"))


_NBA_LHS_RE = re.compile(r"^\s*(\\\S+|[A-Za-z_][\w$]*)\s*(?:\[[^\]]*\]\s*)?<=", re.M)
_DECL_INIT_RE = re.compile(r"^(  reg (?:\[[^\]]+\] )?)(\\\S+ |[A-Za-z_][\w$]*)( = [^;]+);$", re.M)


def strip_flop_initializers(text: str) -> str:
    """Drop the declaration initializer of every reg written with ``<=``
    (Yosys' Verilog backend uses non-blocking assignments only in clocked
    processes), per module."""
    out = []
    for chunk in re.split(r"(?=^module )", text, flags=re.M):
        flops = {m.group(1).strip() for m in _NBA_LHS_RE.finditer(chunk)}
        chunk = _DECL_INIT_RE.sub(lambda m: m.group(1) + m.group(2).rstrip() + (" ;" if m.group(2).startswith("\\") else ";")
                                  if m.group(2).strip() in flops else m.group(0), chunk)
        out.append(chunk)
    return "".join(out)


def prepare(text: str, top: str) -> tuple[str, dict]:
    """(handoff Verilog, {old module name: new name})."""
    names = module_names(text)
    if top not in names:
        raise RtlError(f"top module '{top}' not found in the unit's Verilog")
    renames = {}
    for n in names:
        new = legal_name(top, n)
        if new in renames.values():
            raise RtlError(f"module names {n!r} and another both map to {new!r}")
        renames[n] = new
    for old, new in renames.items():
        if old == new:
            continue
        if old.startswith("\\"):
            # an escaped identifier ends at the first white space
            text = re.sub(re.escape(old) + r"(?=\s)", new, text)
        else:
            text = re.sub(r"(?<![\w$\\])" + re.escape(old) + r"(?![\w$])", new, text)
    text = _MEM_INIT_RE.sub("", text)
    text = strip_flop_initializers(text)
    if re.search(r"^\s*initial\b", text, re.M):
        raise RtlError("the unit's Verilog holds an initial block the handoff does not know how to remove")
    return text, {k.lstrip("\\"): v for k, v in renames.items()}


def header(top: str, manifest: dict, renames: dict) -> str:
    subs = [f"//   {v:40s} (Amaranth: {k})" for k, v in renames.items() if v != top]
    lines = [
        f"// {top}: GQA-LUT generated unit, handoff RTL (synthesizable Verilog-2005, one file).",
        f"// Reset: rst is synchronous and active high; it {manifest.get('reset', 'resets every register').split('(rst); ', 1)[-1]}.",
        "// Clock: clk, rising edge only; no latches, no initial blocks, no simulation-only constructs.",
        "// Flip-flops have no initial values: rst sets every one; row buffers are written before read. The one",
        "// initializer left is Yosys' constant trigger register, written by no process: it only makes event-driven",
        "// simulators evaluate the always @* blocks at time 0, and synthesis removes it.",
    ]
    if manifest.get("lanes", 1) > 1:
        lines.append(f"// Lanes: {manifest['lanes']}, {manifest.get('lane_layout', '')}.")
    if subs:
        lines += ["// Modules in this file:", f"//   {top} (top)"] + subs
    else:
        lines.append(f"// Modules in this file: {top} (top) only.")
    return "\n".join(lines) + "\n"
