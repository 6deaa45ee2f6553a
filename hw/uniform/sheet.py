"""The datasheet's words for a ``uniform`` unit (:mod:`hw.pwl_int.sheet`'s
table and rounding; its own function paragraph). Registered in :mod:`hw.impls`."""

from __future__ import annotations

from hw.pwl_int.sheet import OUTSIDE, fitted_on, rounding_md, table_md  # noqa: F401  (as for pwl)


def function_md(spec, rng) -> str:
    k = spec.entries.bit_length() - 1
    return (f"A piecewise-linear table of {spec.entries} equal segments" + fitted_on(rng) + ". "
            f"`seg` = the top {k} bits of `x - min_code` (`(x - min_code) >> {spec.input.bits - k}`, no "
            "comparators); `y = sat(round_half_up(K[seg] * x + C[seg]))`, every fractional alignment exact, "
            "no internal wrap-around.")
