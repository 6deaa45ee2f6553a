"""The table of a ``poly`` unit as words. Registered for ``impl: "poly"``
in :mod:`hw.impls`. Degree d, no breakpoints, (d+1)N words::

    i*N .. i*N+N-1   coefficient c_i of segments 0..N-1 (two's complement,
                     the column's own width): c0 at 0..N-1, c1 at N..2N-1
"""

from __future__ import annotations

import dataclasses

ALTERNATE = "the coefficients"
#: the columns it reverses, in the package contents' words
COLUMNS = "coefficients"


def addr_bits(spec) -> int:
    return max(1, (len(spec.coefficients) * spec.entries - 1).bit_length())


def data_bits(spec) -> int:
    return max(c.fmt.bits for c in spec.coefficients)


def map_text(spec) -> str:
    n = spec.entries
    return ", ".join(f"c{i} at {i * n}..{(i + 1) * n - 1}" for i in range(len(spec.coefficients)))


def formats(spec) -> dict:
    return {f"c{i}": c.fmt.to_json() for i, c in enumerate(spec.coefficients)}


def image(spec) -> list[tuple[int, int]]:
    return list(enumerate([int(v) & ((1 << c.fmt.bits) - 1) for c in spec.coefficients for v in c.values]))


def word_comments(spec) -> list[str]:
    return [f"c{i} of segment {j} = {int(v)} ({int(v) * 2.0 ** -c.fmt.frac:g})"
            for i, c in enumerate(spec.coefficients) for j, v in enumerate(c.values)]


def alternate(spec):
    """Every coefficient column in reverse order."""
    return dataclasses.replace(spec, coefficients=tuple(
        dataclasses.replace(c, values=tuple(reversed(c.values))) for c in spec.coefficients))
