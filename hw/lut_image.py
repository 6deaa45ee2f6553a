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
    return max(field_widths(spec))


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs that program ``spec`` into a regs unit; each
    word is the field's bit pattern (unsigned, field width)."""
    wb, wk, wc = field_widths(spec)

    def bits(v, w):
        if spec.is_fp32:
            return int(np.array(v, dtype=np.float32).view(np.uint32))
        return int(v) & ((1 << w) - 1)

    words = [bits(b, wb) for b in spec.breakpoints]
    words += [bits(k, wk) for k in spec.slopes.values]
    words += [bits(c, wc) for c in spec.intercepts.values]
    return list(enumerate(words))
