"""Register map and programming image of ``LUT=regs`` units.

One address space of 3N-1 words, ``cfg_data`` as wide as the widest field:

====================  =========================================
address               word
====================  =========================================
0 .. N-2              breakpoint j (input code / binary32 bits)
N-1 .. 2N-2           slope i      (two's complement / binary32)
2N-1 .. 3N-2          intercept i  (two's complement / binary32)
====================  =========================================

A field narrower than ``cfg_data`` takes the low bits of the word; the
upper bits are ignored. Writing ``cfg_we=1`` with ``cfg_addr``/``cfg_data``
updates the word at the next clock edge; the table takes effect for inputs
presented after that edge. Addresses past 3N-2 are ignored.

``impl: "uniform"`` units (no breakpoints; 2N words)::

    0 .. N-1      slope i      (two's complement)
    N .. 2N-1     intercept i  (two's complement)

``impl: "table"`` units (2^bits words, one per input code)::

    a = code - min_code   output code of input ``code`` (two's complement /
                          unsigned bits of the output format), i.e. a is the
                          index into the spec's ``values``; for a signed input
                          a is the code's two's-complement bits with the top
                          bit inverted, for an unsigned input the code itself

``impl: "poly"`` units (degree d, no breakpoints; (d+1)N words)::

    i*N .. i*N+N-1   coefficient c_i of segments 0..N-1 (two's complement,
                     the column's own width): c0 at 0..N-1, c1 at N..2N-1

Same write protocol, same low-bits rule; addresses past the last word are
ignored. :func:`cfg_addr_bits`, :func:`data_bits`, :func:`image` and
:func:`map_text` take any spec; each implementation states its own map in
its ``regmap.py`` (``hw/pwl_int``, ``hw/uniform``, ``hw/table``,
``hw/poly``), found through :func:`hw.impls.regmap`.
"""

from __future__ import annotations

from hw.impls import regmap as _regmap


def data_bits(spec) -> int:
    """Width of ``cfg_data``: the widest field of the spec's register map."""
    return _regmap(spec).data_bits(spec)


def cfg_addr_bits(spec) -> int:
    """Width of ``cfg_addr`` for any spec."""
    return _regmap(spec).addr_bits(spec)


def map_text(spec) -> str:
    """The register map in one line (the manifest's ``cfg.map``)."""
    return _regmap(spec).map_text(spec)


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs that program ``spec`` into a regs unit; each
    word is the field's bit pattern (unsigned, field width)."""
    return _regmap(spec).image(spec)
