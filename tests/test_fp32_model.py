"""The binary32 golden models (hw/fp32/model.py) against independent IEEE
implementations: Berkeley SoftFloat (softfloatpy) on >= 100,000 cases per
operation and mode, and exact rational arithmetic with a separately written
round-to-nearest-even on a further sample. Also the FP32 PWL model against
a per-element re-derivation of its definition."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hw.fp32 import model, vectors
from tests.helpers import hand_spec

sf = pytest.importorskip("softfloatpy", reason="pip install softfloatpy==1.2.3.post1 (extra 'fp32check')")

N = 100_000
CANON = 0x7FC00000


def _sf(bits_: int):
    return sf.Float32.from_bytes(int(bits_).to_bytes(4, "big"))


def _bits(f) -> int:
    return int.from_bytes(f.to_bytes(), "big")


def _flush(w: int) -> int:
    """FTZ, written independently of the model: exponent field 0 -> signed zero."""
    return w & 0x80000000 if (w >> 23) & 0xFF == 0 else w


def _canon(w: int) -> int:
    return CANON if (w >> 23) & 0xFF == 0xFF and w & 0x7FFFFF else w


def _reference(op: str, a: np.ndarray, b: np.ndarray, ftz: bool) -> np.ndarray:
    fn = {"mul": sf.f32_mul, "add": sf.f32_add}[op]
    out = np.empty(len(a), dtype=np.uint32)
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        if ftz:
            x, y = _flush(x), _flush(y)
        r = _canon(_bits(fn(_sf(x), _sf(y))))
        out[i] = _flush(r) if ftz else r
    return out


def _operands(op: str):
    a, b = vectors.random_pairs(op, N, seed=1234)
    sa, sb = vectors.all_pairs(vectors.special_values())
    return np.concatenate([sa, a]), np.concatenate([sb, b])


@pytest.mark.parametrize("ftz", [False, True], ids=["ieee", "ftz"])
@pytest.mark.parametrize("op", ["mul", "add"])
def test_arith_matches_softfloat(op, ftz):
    sf.set_rounding_mode(sf.RoundingMode(0))        # round to nearest even
    a, b = _operands(op)
    assert len(a) >= N
    want = _reference(op, a, b, ftz)
    got = getattr(model, op)(a, b, ftz)
    bad = np.nonzero(got != want)[0]
    assert len(bad) == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(want[i])) for i in bad[:10]]


@pytest.mark.parametrize("ftz", [False, True], ids=["ieee", "ftz"])
def test_ge_matches_softfloat(ftz):
    a, b = _operands("cmp")
    want = np.array([sf.f32_le_quiet(_sf(_flush(y) if ftz else y), _sf(_flush(x) if ftz else x))
                     for x, y in zip(a.tolist(), b.tolist())])
    got = model.ge(a, b, ftz)
    bad = np.nonzero(got != want)[0]
    assert len(bad) == 0, [(hex(a[i]), hex(b[i]), got[i], want[i]) for i in bad[:10]]


# -- exact rational arithmetic with an independent RNE ---------------------------

def _value(w: int) -> Fraction:
    e, f = (w >> 23) & 0xFF, w & 0x7FFFFF
    mag = Fraction(f, 1 << 149) if e == 0 else Fraction((1 << 23) | f) * Fraction(2) ** (e - 150)
    return -mag if w >> 31 else mag


def _round_rne(q: Fraction, zero_sign: int) -> int:
    """Binary32 bits of the exact value ``q`` rounded to nearest, ties to even."""
    if q == 0:
        return zero_sign << 31
    sign = 1 if q < 0 else 0
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()     # 2^e <= a < 2^(e+2)
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)
    n = a / Fraction(2) ** (e - 23)                                # significand in ulps
    fl = n.numerator // n.denominator
    rem = n - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        fl += 1
    if fl == 1 << 24:
        fl, e = 1 << 23, e + 1
    if e > 127:
        return (sign << 31) | 0x7F800000
    if fl < 1 << 23:                                               # subnormal (e == -126)
        return (sign << 31) | fl
    return (sign << 31) | ((e + 127) << 23) | (fl - (1 << 23))


@pytest.mark.parametrize("op", ["mul", "add"])
def test_arith_matches_exact_rationals(op):
    a, b = vectors.random_pairs(op, 30_000, seed=99)
    finite = (((a >> 23) & 0xFF) != 0xFF) & (((b >> 23) & 0xFF) != 0xFF)
    a, b = a[finite], b[finite]
    want = []
    for x, y in zip(a.tolist(), b.tolist()):
        if op == "mul":
            want.append(_round_rne(_value(x) * _value(y), (x ^ y) >> 31))
        else:
            want.append(_round_rne(_value(x) + _value(y), (x & y) >> 31))
    got = getattr(model, op)(a, b)
    bad = np.nonzero(got != np.array(want, dtype=np.uint32))[0]
    assert len(a) > 20_000 and len(bad) == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(want[i]))
                                                for i in bad[:10]]


# -- specific IEEE and FTZ facts -----------------------------------------------------

@pytest.mark.parametrize("op,a,b,ftz,want", [
    ("add", 0x3F800000, 0xBF800000, False, 0x00000000),   # x + (-x) = +0
    ("add", 0x80000000, 0x80000000, False, 0x80000000),   # -0 + -0 = -0
    ("add", 0x00000000, 0x80000000, False, 0x00000000),   # +0 + -0 = +0
    ("add", 0x7F800000, 0xFF800000, False, CANON),        # inf - inf
    ("mul", 0x7F800000, 0x00000000, False, CANON),        # inf * 0
    ("mul", 0x7FC00001, 0x3F800000, False, CANON),        # NaN payload not propagated
    ("add", 0xFF800001, 0x3F800000, False, CANON),        # sNaN in -> canonical qNaN
    ("mul", 0x7F7FFFFF, 0x40000000, False, 0x7F800000),   # overflow to inf
    ("mul", 0x00000001, 0x3F000000, False, 0x00000000),   # 2^-150: tie, to even (0)
    ("mul", 0x00000003, 0x3F000000, False, 0x00000002),   # 1.5 ulp: tie, to even (2)
    ("add", 0x3F800000, 0x33800000, False, 0x3F800000),   # 1 + 2^-24: tie, to even
    ("add", 0x3F800001, 0x33800000, False, 0x3F800002),   # tie, up to even
    ("mul", 0x00000001, 0x3F800000, True, 0x00000000),    # FTZ: subnormal in reads as 0
    ("mul", 0x80000001, 0x3F800000, True, 0x80000000),    # ... of the same sign
    ("mul", 0x00800000, 0x3F000000, True, 0x00000000),    # FTZ: subnormal result -> +0
    ("mul", 0x80800000, 0x3F000000, True, 0x80000000),    # ... -0
    ("mul", 0x00800000, 0x3F000000, False, 0x00400000),   # IEEE: gradual underflow
    ("mul", 0x20000000, 0x1FFFFFFF, True, 0x00800000),    # rounds up to min normal: kept
    ("add", 0x00800001, 0x80800000, True, 0x00000000),    # FTZ: tiny difference -> +0
    ("add", 0x00800001, 0x80800000, False, 0x00000001),   # IEEE: exact subnormal
])
def test_model_facts(op, a, b, ftz, want):
    assert int(getattr(model, op)(np.uint32(a), np.uint32(b), ftz)) == want


def test_ge_facts():
    g = lambda a, b, ftz=False: bool(model.ge(np.uint32(a), np.uint32(b), ftz))
    assert g(0x80000000, 0x00000000) and g(0x00000000, 0x80000000)        # -0 == +0
    assert not g(0x7FC00000, 0x7FC00000) and not g(0x3F800000, 0x7F800001)  # NaN: false
    assert not g(0x00000000, 0x00000001) and g(0x00000000, 0x00000001, True)  # FTZ: 0 >= tiny
    assert g(0x7F800000, 0x7F7FFFFF) and g(0x00000001, 0x80000000)


# -- the FP32 PWL model ------------------------------------------------------------

def test_pwl_model_definition():
    """evaluate() equals its definition written out per element with SoftFloat."""
    from hw.pwl_fp32.model import evaluate
    spec = hand_spec()
    xs = np.concatenate([vectors.special_values(),
                         np.random.default_rng(5).integers(0, 1 << 32, 20_000, dtype=np.uint64)
                         ]).astype(np.uint32)
    bp = [_sf(int(w)) for w in model.bits(np.array(spec.breakpoints, dtype=np.float32))]
    ks = model.bits(np.array(spec.slopes.values, dtype=np.float32)).tolist()
    cs = model.bits(np.array(spec.intercepts.values, dtype=np.float32)).tolist()
    for ftz in (False, True):
        want = []
        for x in xs.tolist():
            xf = _flush(x) if ftz else x
            seg = sum(bool(sf.f32_le_quiet(_sf(_flush(_bits(p))) if ftz else p, _sf(xf)))
                      for p in bp)
            k, c = ks[seg], cs[seg]
            if ftz:
                k, c = _flush(k), _flush(c)
            p = _canon(_bits(sf.f32_mul(_sf(k), _sf(xf))))
            p = _flush(p) if ftz else p
            y = _canon(_bits(sf.f32_add(_sf(p), _sf(c))))
            want.append(_flush(y) if ftz else y)
        got = evaluate(spec, xs, ftz)
        bad = np.nonzero(got != np.array(want, dtype=np.uint32))[0]
        assert len(bad) == 0, (ftz, [(hex(xs[i]), hex(got[i]), hex(want[i])) for i in bad[:10]])
