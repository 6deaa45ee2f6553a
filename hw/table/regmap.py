"""The table of a ``table`` unit (direct lookup) as words. Registered for
``impl: "table"`` in :mod:`hw.impls`. 2^bits words, one per input code::

    a = code - min_code   output code of input ``code`` (two's complement /
                          unsigned bits of the output format), i.e. a is the
                          index into the spec's ``values``; for a signed input
                          a is the code's two's-complement bits with the top
                          bit inverted, for an unsigned input the code itself
"""

from __future__ import annotations

import dataclasses

ALTERNATE = "the values"
#: the columns it reverses, in the package contents' words
COLUMNS = "values"


def addr_bits(spec) -> int:
    return spec.input.bits


def data_bits(spec) -> int:
    return spec.output.bits


def map_text(spec) -> str:
    return (f"output code of input code q at q - min_code (0..{spec.entries - 1}, the index into the spec's values; "
            f"{'the code with its top bit inverted' if spec.input.signed else 'the code itself'})")


def formats(spec) -> dict:
    return {}


def image(spec) -> list[tuple[int, int]]:
    return [(a, int(v) & ((1 << spec.output.bits) - 1)) for a, v in enumerate(spec.values)]


def word_comments(spec) -> list[str]:
    x, y = spec.input, spec.output
    return [f"x = {x.min_code + a} ({(x.min_code + a) * 2.0 ** -x.frac:g}): y = {int(v)} "
            f"({int(v) * 2.0 ** -y.frac:g})" for a, v in enumerate(spec.values)]


def alternate(spec):
    """The values in reverse order."""
    return dataclasses.replace(spec, values=tuple(reversed(spec.values)))
