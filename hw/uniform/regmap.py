"""The table of a ``uniform`` unit as words (as :mod:`hw.pwl_int.regmap`,
without breakpoints: the segment is the input's top bits). Registered for
``impl: "uniform"`` in :mod:`hw.impls`::

    0 .. N-1      slope i      (two's complement)
    N .. 2N-1     intercept i  (two's complement)
"""

from __future__ import annotations

from hw.pwl_int.regmap import (ALTERNATE, COLUMNS, alternate, formats,  # noqa: F401  (the same fields)
                                line_comments, line_words)


def addr_bits(spec) -> int:
    return max(1, (2 * spec.entries - 1).bit_length())


def data_bits(spec) -> int:
    return max(spec.slopes.fmt.bits, spec.intercepts.fmt.bits)


def map_text(spec) -> str:
    n = spec.entries
    return f"slopes at 0..{n - 1}, intercepts at {n}..{2 * n - 1}"


def image(spec) -> list[tuple[int, int]]:
    """(address, word) pairs: slopes, intercepts (no breakpoint words)."""
    return list(enumerate(line_words(spec, ())))


def word_comments(spec) -> list[str]:
    return line_comments(spec, spec.arrays()[0][:0])
