"""The datasheet's words for a ``table`` unit (direct lookup). Registered in :mod:`hw.impls`."""

from __future__ import annotations

#: a table has no outside: every input code is stored
OUTSIDE = "."

#: a direct-lookup table up to this many input bits is printed in full (16 codes a row)
PRINT_MAX_BITS = 8


def function_md(spec, rng) -> str:
    return (f"A direct lookup table: one stored output code per input code ({spec.entries} codes), "
            "`y = T[x - min_code]`. Each value is the function at that input, rounded half up (ties toward "
            "+infinity) to the output format and saturated to its range (correctly rounded)"
            + (f"; accuracy measured on [{rng[0]:g}, {rng[1]:g}]" if rng else "") + ".")


def rounding_md(spec, man: dict) -> list[str]:
    return []                   # said in the function paragraph


def table_md(spec) -> list[str]:
    """The output codes, 16 input codes a row (up to :data:`PRINT_MAX_BITS`
    input bits; wider tables are named, not printed)."""
    x, y = spec.input, spec.output
    head = (f"Output codes ({y.label()}, real value = code * 2^-{y.frac}) for every input code x "
            f"({x.label()}, x = code * 2^-{x.frac}); row r, column c holds input code r + c.")
    if x.bits > PRINT_MAX_BITS:
        return [f"{spec.entries} output codes ({y.label()}), one per input code from {x.min_code} to "
                f"{x.max_code}: the `values` of the generator's spec.json, and the expected outputs "
                "`tb/*.y.hex` of the bench (every input code in that order)."]
    L = [head, "", "| x | " + " | ".join(f"+{c}" for c in range(16)) + " |", "|---:|" + "---:|" * 16]
    for r in range(0, spec.entries, 16):
        L.append(f"| {x.min_code + r} | " + " | ".join(str(int(v)) for v in spec.values[r:r + 16]) + " |")
    return L
