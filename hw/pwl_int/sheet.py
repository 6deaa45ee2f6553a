"""The datasheet's words for a ``pwl`` unit (integer and FP32 specs): its
function paragraph, its table in codes and real units, and its rounding.
Registered for ``impl: "pwl"`` in :mod:`hw.impls`; used by
:mod:`hw.handoff.datasheet`."""

from __future__ import annotations

#: appended to the error bound: what the unit does outside the fitted range
OUTSIDE = " (outside that range: the nearest segment's line, saturated to the output format)."


def fitted_on(rng, word: str = "fitted on") -> str:
    return f", {word} [{rng[0]:g}, {rng[1]:g}]" if rng else ""


def function_md(spec, rng) -> str:
    return (f"A piecewise-linear (PWL) table of {spec.entries} segments" + fitted_on(rng) + ". "
            "`seg` = number of breakpoints `p_j <= x`; "
            + ("`y = fl(fl(K[seg] * x) + C[seg])` in IEEE binary32." if spec.is_fp32 else
               "`y = sat(round_half_up(K[seg] * x + C[seg]))`, every fractional alignment exact, no internal "
               "wrap-around."))


def rounding_md(spec, man: dict) -> list[str]:
    if spec.is_fp32:
        return ["", man.get("fp32", "")]
    return ["", "Rounding: half up (ties toward +infinity) at the single final rounding. "
            "Saturation: always on, to the output format's range."]


def table_md(spec) -> list[str]:
    """The table in codes and real units, a row per segment."""
    bps, K, C = spec.arrays()
    L = ["| segment | input range | slope | intercept |", "|---:|---|---|---|"]
    if spec.is_fp32:
        edges = ["-inf"] + [f"{float(b):.9g}" for b in bps] + ["+inf"]
        for i in range(spec.entries):
            L.append(f"| {i} | [{edges[i]}, {edges[i + 1]}) | {float(K[i]):.9g} | {float(C[i]):.9g} |")
        return L
    fx, fk, fc = spec.input.frac, spec.slopes.fmt.frac, spec.intercepts.fmt.frac
    edges = [f"min ({spec.input.min_code})"] + [f"{int(b)} = {int(b) * 2.0 ** -fx:g}" for b in bps] \
        + [f"max ({spec.input.max_code})"]
    for i in range(spec.entries):
        L.append(f"| {i} | [{edges[i]}, {edges[i + 1]}{']' if i == spec.entries - 1 else ')'} | "
                 f"{int(K[i])} = {int(K[i]) * 2.0 ** -fk:g} | {int(C[i])} = {int(C[i]) * 2.0 ** -fc:g} |")
    return L
