"""The datasheet's words for a ``poly`` unit. Registered in :mod:`hw.impls`."""

from __future__ import annotations

from hw.pwl_int.sheet import OUTSIDE, fitted_on, rounding_md  # noqa: F401  (as for pwl)


def function_md(spec, rng) -> str:
    k = spec.entries.bit_length() - 1
    m = spec.input.bits - k - (spec.fold is not None)
    text = (f"A segment-local polynomial of degree {spec.degree} on {spec.entries} equal segments"
            + fitted_on(rng) + ". "
            f"`seg` = the top {k} bits of `x - min_code`, `t` = its low {m} bits (the offset inside the "
            "segment); " + ("`y = sat(round_half_up(c0[seg] + c1[seg] * t))`, every fractional alignment exact"
                            if spec.degree == 1 else
                            "`h = c1[seg] + floor(c2[seg] * t)` in c1's format (the only truncation), then "
                            "`y = sat(round_half_up(c0[seg] + h * t))`, every other alignment exact")
            + ", no internal wrap-around (the generator's golden model `hw/poly/model.py`).")
    if spec.fold is not None:
        kind, K = spec.fold
        text += (f" Folded: the table holds the non-negative half; `x - min_code` above reads the "
                 f"{spec.input.bits - 1}-bit magnitude `a = x` for `x >= 0`, else `a = min(-x, "
                 f"{spec.input.max_code})`, and for `x < 0` the unit outputs "
                 + (f"`sat({K} - Y)`" if kind == "odd" else
                    f"`sat(Y - (a << {spec.output.frac - spec.input.frac}))`") + ".")
    return text


def table_md(spec) -> list[str]:
    """Per segment its first input and its coefficients, in codes and real units."""
    x, n = spec.input, spec.entries
    if spec.fold is not None:           # the table's segments are the magnitude's
        from hw.poly.model import half
        x = half(x)
    m = x.bits - (n.bit_length() - 1)
    c0, c1, *c2 = spec.coefficients
    if c2:                      # degree 2: a column more
        cols = spec.coefficients
        L = [f"{n} segments of 2^{m} input codes; " + ", ".join(f"c{j} {c.fmt.label()}"
                                                               for j, c in enumerate(cols)) + ".", "",
             "| segment | first input | " + " | ".join(f"c{j}" for j in range(len(cols))) + " |",
             "|---:|---|" + "---|" * len(cols)]
        for i in range(n):
            q = x.min_code + (i << m)
            L.append(f"| {i} | {q} = {q * 2.0 ** -x.frac:g} | " + " | ".join(
                f"{int(c.values[i])} = {int(c.values[i]) * 2.0 ** -c.fmt.frac:g}" for c in cols) + " |")
        return L
    L = [f"{n} segments of 2^{m} input codes; c0 {c0.fmt.label()}, c1 {c1.fmt.label()}.", "",
         "| segment | first input | c0 | c1 |", "|---:|---|---|---|"]
    for i in range(n):
        q = x.min_code + (i << m)
        a, b = int(c0.values[i]), int(c1.values[i])
        L.append(f"| {i} | {q} = {q * 2.0 ** -x.frac:g} | {a} = {a * 2.0 ** -c0.fmt.frac:g} | "
                 f"{b} = {b * 2.0 ** -c1.fmt.frac:g} |")
    return L
