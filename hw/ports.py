"""The port order of every generated top module: the order README.md,
DESIGN.md and the datasheet document, so that a unit can be connected by
position as well as by name.

``clk``, ``rst`` first; then the data ports, inputs before outputs
(element-wise: ``in_valid, x, out_valid, y``; a row-wise stream, as the
README's module block lists it: ``in_valid, in_last, in_ready, in_data``,
``out_valid, out_last, out_ready, out_data``, then the row flag); the table
or gamma/beta write port ``cfg_we, cfg_addr, cfg_data`` last. A port not
listed here keeps its place relative to the other unlisted ones, after all
listed data ports and before ``cfg_*``.

Why a rewrite is needed at all: Amaranth 0.5 numbers the top module's port
wires from 0, and Yosys' Verilog backend reads port number 0 as
"unnumbered" and lists it last, so the emitted header starts with the
second input (``in_valid, clk, rst, y, out_valid, x``). The header of a
non-ANSI Verilog module is only a list of names (the declarations follow in
the body), so putting the names in order changes nothing else.
"""

from __future__ import annotations

import re

#: the documented order; the two kinds share in_valid/out_valid
ORDER = ("clk", "rst",
         "in_valid", "in_last", "in_ready", "in_data", "x",
         "out_valid", "out_last", "out_ready", "out_data", "y", "out_overflow", "out_error",
         # ROW_STORE=sram: the macro's port, the unit's outputs first (DESIGN.md "SRAM row store")
         "sram_en", "sram_we", "sram_addr", "sram_wdata", "sram_rdata")
#: the write port, after every data port
LAST = ("cfg_we", "cfg_addr", "cfg_data")


def ordered(names: list[str]) -> list[str]:
    """``names`` in the documented order (unlisted names after the listed
    data ports, in their given order; ``cfg_*`` last)."""
    def rank(item):
        i, n = item
        if n in ORDER:
            return (0, ORDER.index(n), 0)
        if n in LAST:
            return (2, LAST.index(n), 0)
        return (1, 0, i)
    return [n for _, n in sorted(enumerate(names), key=rank)]


class PortOrderError(ValueError):
    pass


def header_ports(text: str, top: str) -> list[str]:
    """The port names in the header of module ``top`` of Verilog ``text``."""
    m = _header(text, top)
    return [p.strip() for p in m.group(2).split(",") if p.strip()]


def _header(text: str, top: str):
    m = re.search(r"^(module\s+\\?" + re.escape(top) + r"\s*\()([^;]*)(\)\s*;)", text, re.M)
    if m is None:
        raise PortOrderError(f"no module {top} header in the generated Verilog")
    return m


def reorder_header(text: str, top: str) -> str:
    """``text`` with the header of module ``top`` listing its ports in the
    documented order (:func:`ordered`); nothing else changes."""
    m = _header(text, top)
    names = header_ports(text, top)
    return text[:m.start(2)] + ", ".join(ordered(names)) + text[m.end(2):]
