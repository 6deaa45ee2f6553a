"""The table of a ``pwl`` unit (integer and FP32 specs) as words: register
map and programming image of ``LUT=regs`` (:mod:`hw.lut_image` gives the
overview), the manifest's table formats, the handoff's word comments and
the second table its bench loads first. Registered for ``impl: "pwl"`` in
:mod:`hw.impls`.

One address space of 3N-1 words, ``cfg_data`` as wide as the widest field::

    0 .. N-2       breakpoint j (input code / binary32 bits)
    N-1 .. 2N-2    slope i      (two's complement / binary32)
    2N-1 .. 3N-2   intercept i  (two's complement / binary32)
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: what the bench's first table is, in the datasheet's words
ALTERNATE = "the slopes and intercepts"
#: the columns it reverses, in the package contents' words
COLUMNS = "slopes, intercepts"


def field_widths(spec) -> tuple[int, int, int]:
    """Bits of (breakpoint, slope, intercept) fields."""
    if spec.is_fp32:
        return 32, 32, 32
    return spec.input.bits, spec.slopes.fmt.bits, spec.intercepts.fmt.bits


def addr_bits(spec) -> int:
    return max(1, (3 * spec.entries - 2).bit_length())


def data_bits(spec) -> int:
    return max(field_widths(spec))


def map_text(spec) -> str:
    return "breakpoints at 0..N-2, slopes at N-1..2N-2, intercepts at 2N-1..3N-2"


def formats(spec) -> dict:
    """The manifest's formats of the table's fields (besides input and output)."""
    def fmt(f):
        return {"type": "fp32"} if f is None else f.to_json()
    return {"slopes": fmt(spec.slopes.fmt), "intercepts": fmt(spec.intercepts.fmt)}


def line_words(spec, bps) -> list[int]:
    """The words of breakpoints ``bps`` (none for uniform), then slopes and
    intercepts: each the field's bit pattern (unsigned, field width)."""
    wb, wk, wc = field_widths(spec)

    def bits(v, w):
        if spec.is_fp32:
            return int(np.array(v, dtype=np.float32).view(np.uint32))
        return int(v) & ((1 << w) - 1)

    return ([bits(b, wb) for b in bps] + [bits(k, wk) for k in spec.slopes.values]
            + [bits(c, wc) for c in spec.intercepts.values])


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs: breakpoints, slopes, intercepts."""
    return list(enumerate(line_words(spec, spec.breakpoints)))


def line_comments(spec, bps) -> list[str]:
    """Word comments of breakpoints ``bps`` (none for uniform), then slopes and intercepts."""
    _, K, C = spec.arrays()
    if spec.is_fp32:
        return ([f"breakpoint {j} = {float(v):.9g}" for j, v in enumerate(bps)]
                + [f"slope {i} = {float(v):.9g}" for i, v in enumerate(K)]
                + [f"intercept {i} = {float(v):.9g}" for i, v in enumerate(C)])
    fx, fk, fc = spec.input.frac, spec.slopes.fmt.frac, spec.intercepts.fmt.frac
    return ([f"breakpoint {j} = {int(v)} (x = {int(v) * 2.0 ** -fx:g})" for j, v in enumerate(bps)]
            + [f"slope {i} = {int(v)} ({int(v) * 2.0 ** -fk:g})" for i, v in enumerate(K)]
            + [f"intercept {i} = {int(v)} ({int(v) * 2.0 ** -fc:g})" for i, v in enumerate(C)])


def word_comments(spec) -> list[str]:
    """One comment per word of :func:`image`, in address order."""
    bps = spec.arrays()[0]
    assert len(bps) == spec.entries - 1
    return line_comments(spec, bps)


def alternate(spec):
    """A second table of the same formats (slopes and intercepts in reverse
    order) that a bench loads first, to show that loading replaces the table."""
    return dataclasses.replace(
        spec, slopes=dataclasses.replace(spec.slopes, values=tuple(reversed(spec.slopes.values))),
        intercepts=dataclasses.replace(spec.intercepts, values=tuple(reversed(spec.intercepts.values))))
