"""The table of a ``uniform`` unit as words (as :mod:`hw.pwl_int.regmap`,
without breakpoints: the segment is the input's top bits). Registered for
``impl: "uniform"`` in :mod:`hw.impls`::

    0 .. N-1      slope i      (two's complement)
    N .. 2N-1     intercept i  (two's complement)
"""

from __future__ import annotations

from hw.pwl_int.regmap import ALTERNATE, COLUMNS, alternate, formats, line_comments  # noqa: F401  (the same fields)


def addr_bits(spec) -> int:
    return max(1, (2 * spec.entries - 1).bit_length())


def data_bits(spec) -> int:
    return max(spec.slopes.fmt.bits, spec.intercepts.fmt.bits)


def map_text(spec) -> str:
    n = spec.entries
    return f"slopes at 0..{n - 1}, intercepts at {n}..{2 * n - 1}"


def image(spec) -> list[tuple[int, int]]:
    wk, wc = spec.slopes.fmt.bits, spec.intercepts.fmt.bits
    words = [int(k) & ((1 << wk) - 1) for k in spec.slopes.values]
    return list(enumerate(words + [int(c) & ((1 << wc) - 1) for c in spec.intercepts.values]))


def word_comments(spec) -> list[str]:
    return line_comments(spec, spec.arrays()[0][:0])
