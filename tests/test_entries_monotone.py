"""More entries never give a worse max error (issue 21).

`make gen OP=gelu ENTRIES=256` was 63 LSB off at the top input code while
16-64 entries gave 0.53 LSB: with as many entries as codes the last segment
holds one code, and its chord (from its first code to the domain's last
code, the same code) had no slope, so slope 0 put the whole value into the
intercept, which saturates where |f| >= 2 (s8.6). A one-code segment's
least-squares line had the same fault. ``Problem.coeffs_chord`` /
``coeffs_lsq`` now give such a segment f's local slope (``one_code_lines``);
the searches keep scoring as before, so tables of up to 64 entries are
unchanged.

Properties (Hypothesis, derandomized like tests/test_fuzz.py):

* the exact method with objective ``maxerr`` (the max-error optimum the
  ``MAX_ERR_LSB`` search certifies with) never gets worse with more entries,
  on a narrowed range so that each fit takes a fraction of a second;
* the line rules (``auto``, ``lsq``, ``chord``; the uniform method, whose
  lines are the GA's) minimize squared error, not max error, so they are
  not strictly monotone; from 64 entries on (segments of at most 4 codes)
  more entries are never worse by more than 1.5 LSB. Measured worst excess
  over all int8 ops, rules and entries 64..codes: 0.98 LSB (reciprocal);
  before the fix 60+ LSB from 171 entries on.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitter import functions
from fitter.fit import datapath, fit
from fitter.ga import GAConfig
from fitter.problem import Problem

OPS = sorted(functions.FUNCTIONS)
PROPERTY = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def codes(op: str, rng=None) -> int:
    f = functions.get(op)
    lo, hi = rng or f.range
    return len(Problem(f, lo, hi, datapath(f, "int8"), 1).q)


def max_err(op: str, n: int, method: str, rng=None, **ga) -> float:
    spec, _ = fit(op, n, "int8", 0, method, rng, GAConfig(quiet=True, **ga))
    return spec.fit["metrics"]["max_err_lsb"]


def narrow(op: str) -> tuple:
    lo, hi = functions.get(op).range
    return lo, lo + (hi - lo) / 8          # about 32 codes: an exact fit in well under a second


@settings(max_examples=8, **PROPERTY)
@given(op=st.sampled_from(OPS), data=st.data())
def test_exact_maxerr_never_worse_with_more_entries(op, data):
    rng = narrow(op)
    m = codes(op, rng)
    n1 = data.draw(st.integers(1, m - 1), label="fewer")
    n2 = data.draw(st.integers(n1 + 1, m), label="more")
    e1, e2 = (max_err(op, n, "exact", rng, objective="maxerr") for n in (n1, n2))
    assert e2 <= e1 + 1e-9, (op, n1, e1, n2, e2)


@settings(max_examples=60, **PROPERTY)
@given(op=st.sampled_from(OPS), rule=st.sampled_from(["auto", "lsq", "chord"]), data=st.data())
def test_line_rules_never_much_worse_with_more_entries(op, rule, data):
    m = codes(op)
    n1 = data.draw(st.integers(64, m - 1), label="fewer")
    n2 = data.draw(st.integers(n1 + 1, m), label="more")
    e1, e2 = (max_err(op, n, "uniform", rule=rule) for n in (n1, n2))
    assert e2 <= e1 + 1.5, (op, rule, n1, e1, n2, e2)


def test_gelu_256_entries_regression():
    """The issue's case, with the default fit (GA, rule auto), and every
    entry count from 250 (mostly one-code segments) with each rule."""
    spec, _ = fit("gelu", 256, "int8", 0, "ga", None, GAConfig(quiet=True, generations=50))
    assert spec.fit["metrics"]["max_err_lsb"] < 1.0, spec.fit["metrics"]
    K, C = spec.slopes.values, spec.intercepts.values
    assert (K[-1], C[-1]) != (0, spec.intercepts.fmt.max_code)      # not the saturated flat line
    for rule in ("auto", "lsq", "chord"):
        for n in range(250, 257):
            assert max_err("gelu", n, "uniform", rule=rule) < 1.0, (rule, n)
