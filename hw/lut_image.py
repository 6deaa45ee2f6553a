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
:func:`map_text` take any spec and dispatch on ``spec.impl``.
"""

from __future__ import annotations

import numpy as np


def field_widths(spec) -> tuple[int, int, int]:
    """Bits of (breakpoint, slope, intercept) fields."""
    if spec.is_fp32:
        return 32, 32, 32
    return spec.input.bits, spec.slopes.fmt.bits, spec.intercepts.fmt.bits


def addr_bits(entries: int) -> int:
    return max(1, (3 * entries - 2).bit_length())


def data_bits(spec) -> int:
    if getattr(spec, "impl", "pwl") == "table":
        return spec.output.bits
    if getattr(spec, "impl", "pwl") == "uniform":
        return max(spec.slopes.fmt.bits, spec.intercepts.fmt.bits)
    if getattr(spec, "impl", "pwl") == "poly":
        return max(c.fmt.bits for c in spec.coefficients)
    return max(field_widths(spec))


def cfg_addr_bits(spec) -> int:
    """Width of ``cfg_addr`` for any spec (:func:`addr_bits` for pwl)."""
    if getattr(spec, "impl", "pwl") == "table":
        return spec.input.bits
    if getattr(spec, "impl", "pwl") == "uniform":
        return max(1, (2 * spec.entries - 1).bit_length())
    if getattr(spec, "impl", "pwl") == "poly":
        return max(1, (len(spec.coefficients) * spec.entries - 1).bit_length())
    return addr_bits(spec.entries)


def map_text(spec) -> str:
    """The register map in one line (the manifest's ``cfg.map``)."""
    n = spec.entries
    if getattr(spec, "impl", "pwl") == "table":
        return (f"output code of input code q at q - min_code (0..{n - 1}, the index into the spec's values; "
                f"{'the code with its top bit inverted' if spec.input.signed else 'the code itself'})")
    if getattr(spec, "impl", "pwl") == "uniform":
        return f"slopes at 0..{n - 1}, intercepts at {n}..{2 * n - 1}"
    if getattr(spec, "impl", "pwl") == "poly":
        return ", ".join(f"c{i} at {i * n}..{(i + 1) * n - 1}" for i in range(len(spec.coefficients)))
    return "breakpoints at 0..N-2, slopes at N-1..2N-2, intercepts at 2N-1..3N-2"


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs that program ``spec`` into a regs unit; each
    word is the field's bit pattern (unsigned, field width)."""
    if getattr(spec, "impl", "pwl") == "table":
        return [(a, int(v) & ((1 << spec.output.bits) - 1)) for a, v in enumerate(spec.values)]
    if getattr(spec, "impl", "pwl") == "poly":
        return list(enumerate([int(v) & ((1 << c.fmt.bits) - 1) for c in spec.coefficients for v in c.values]))
    if getattr(spec, "impl", "pwl") == "uniform":
        wk, wc = spec.slopes.fmt.bits, spec.intercepts.fmt.bits
        words = [int(k) & ((1 << wk) - 1) for k in spec.slopes.values]
        return list(enumerate(words + [int(c) & ((1 << wc) - 1) for c in spec.intercepts.values]))
    wb, wk, wc = field_widths(spec)

    def bits(v, w):
        if spec.is_fp32:
            return int(np.array(v, dtype=np.float32).view(np.uint32))
        return int(v) & ((1 << w) - 1)

    words = [bits(b, wb) for b in spec.breakpoints]
    words += [bits(k, wk) for k in spec.slopes.values]
    words += [bits(c, wc) for c in spec.intercepts.values]
    return list(enumerate(words))
