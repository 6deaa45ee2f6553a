"""Amaranth generator of the segment-local polynomial unit (``impl: "poly"``, degree 1 or 2).

Golden model and widths: :mod:`hw.poly.model` (DESIGN.md, "Segment-local
polynomial semantics"). Per lane, in order:

1. ``u = x - min_code`` (for a signed input the top bit inverted: wiring);
   ``seg`` = its top k bits, ``t`` = its low m = w - k bits;
2. table read ``c0[seg]``, ``c1[seg]``;
3. ``prod = c1 * t`` (a signed b1-bit by unsigned m-bit multiplier: the
   narrow one, m = w - k);
4. ``acc = (c0 << shift0) + (prod << shift1)``, round half up ``>>> s``;
5. saturate to the output format.

``LUT=rom``: the table is one ``case`` over ``seg`` per lane (as the table
unit's ROM) giving ``c0`` and ``c1``; since the table is known, ``c0`` is
stored already aligned and with the rounding constant added, ``(c0 <<
shift0) + 2^(s-1)`` (its constant low bits cost no logic), the product, accumulator and result are only as wide as the
table's actual values need (exact ranges: ``acc`` is linear in ``t`` on each
segment, so its extremes are at ``t = 0`` and ``t = 2^m - 1``), and a
saturation side that no segment can reach is left out. None of this changes
the function: it is the model's, code for code.

``LUT=regs``: ``c0_i`` and ``c1_i`` registers reset to the generated table,
written through ``cfg_*`` (``c0`` at addresses 0..N-1, ``c1`` at N..2N-1,
:mod:`hw.lut_image`); widths from the formats (:class:`PolyDatapath`), the
rounding constant added, both saturation sides.

Pipelining as the other units: ``stages`` 0 combinational, 1 output register,
2 adds a register after the table read (``t``, ``c0``, ``c1``), 3 one after
the product (``prod``, ``c0``); ``out_valid`` is ``in_valid`` delayed by
``stages`` clocks; ``rst`` clears the valid bits (and reloads the table).

Degree 2 (Horner, :mod:`hw.poly.model`): after the table read ``p2 = c2 *
t`` (a ``c2.bits x m`` multiplier), ``q2 = p2 >>> r`` (wires: the low bits
dropped), ``h = c1 + q2``, then ``prod = h * t`` and steps 4-5 as degree 1.
``LUT=rom`` sizes every signal by its exact range over all input codes
(the table is known and at most 2^16 codes), ``regs`` by the formats
(:class:`PolyDatapath`); ``c2_i`` registers at cfg addresses 2N..3N-1.
STAGES 2 registers ``t``, ``c0``, ``c1``, ``c2`` after the read; 3 also
``t``, ``h``, ``c0`` after ``h`` (between the two multipliers).

Symmetry folding (``spec.fold``): in front, ``a = x < 0 ? min(-x,
max) : x`` (a negation and two muxes) is the polynomial part's unsigned
(w-1)-bit input; behind, ``K - Y`` (``odd``) or ``Y - (a << (f_y - f_x))``
(``x``), clamped, selected by the sign, which (with ``a``) is registered
at the same cuts as the data.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring

from hw.fixed import round_half_up
from hw.poly.model import PolyDatapath
from hw.pwl_common import check_args, drive_output, drive_valid, lanes_of, signature, stager
from hw.poly import regmap


def _shape(f):
    return signed(f.bits) if f.signed else unsigned(f.bits)


def _sbits(lo: int, hi: int) -> int:
    """Signed bits holding every integer of [lo, hi] (at least 2)."""
    return max(2, max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1)


#: STAGES -> the pipeline cuts besides the output register (the module doc): a poly unit has STAGES 0..3
CUTS = {0: (), 1: (), 2: ("read",), 3: ("read", "prod")}


class PolyUnit(wiring.Component):
    """Segment-local polynomial unit for an integer ``impl: "poly"`` spec.

    Ports as :class:`hw.pwl_int.unit.IntPWL`; ``cfg_addr`` is
    ``(2N-1).bit_length()`` bits wide, ``cfg_data`` the widest coefficient.
    """

    def __init__(self, spec, stages: int = 0, lut: str = "rom", lanes: int = 1):
        if spec.impl != "poly" or spec.is_fp32:
            raise ValueError("PolyUnit needs an integer spec with impl 'poly'")
        if spec.degree not in (1, 2):
            raise ValueError(f"PolyUnit: degree 1 or 2, not {spec.degree}")
        check_args(stages, lut, lanes)
        if stages not in CUTS:
            raise ValueError(f"PolyUnit: STAGES 0..{max(CUTS)}, not {stages}")
        self.spec, self.stages, self.lut, self.lanes = spec, stages, lut, lanes
        self.dp = PolyDatapath.of_spec(spec)
        self.latency = stages
        super().__init__(signature(spec, stages, lut, _shape(spec.input), _shape(self.dp.y), lanes, regmap=regmap))

    def _front(self, m: Module, x, p: str):
        """The polynomial part's input, offset binary: the input code's bits, top bit
        inverted if signed; for a folded spec the magnitude ``a`` (``-x``, saturated)."""
        dp, spec = self.dp, self.spec
        bits = dp.x.bits
        if spec.fold is None:
            off = Signal(bits, name=p + "u")
            m.d.comb += off.eq(x.as_unsigned() ^ ((1 << (bits - 1)) if dp.x.signed else 0))
            return off
        w = spec.input.bits
        negx = Signal(w, name=p + "negx")
        m.d.comb += negx.eq(-x)                 # 1 .. 2^(w-1) for x < 0: bit w-1 set only for min_code
        a = Signal(bits, name=p + "a")
        m.d.comb += a.eq(Mux(x[w - 1], Mux(negx[w - 1], dp.x.max_code, negx[:bits]), x[:bits]))
        self._a = a
        return a

    def _back(self, m: Module, out, x, p: str, stage):
        """The folded unit's output (the fold after the polynomial part's ``out``);
        ``out`` itself when unfolded. The sign (and for kind ``x`` the magnitude)
        follow the data through the pipeline cuts."""
        spec, dp = self.spec, self.dp
        if spec.fold is None:
            return out
        w, ys = spec.input.bits, dp.y
        sg = stage("prod", "sg_s3", stage("read", "sg_s2", x[w - 1], unsigned(1)), unsigned(1))
        kind, K = spec.fold
        lo, hi = ys.min_code, ys.max_code
        if kind == "odd":
            vw = max(ys.bits, abs(K).bit_length()) + 2
            v = Signal(signed(vw), name=p + "fold")
            m.d.comb += v.eq(K - out)
        else:
            sh = ys.frac - spec.input.frac
            a = stage("prod", "a_s3", stage("read", "a_s2", self._a, unsigned(dp.x.bits)), unsigned(dp.x.bits))
            vw = max(ys.bits, dp.x.bits + sh) + 2
            v = Signal(signed(vw), name=p + "fold")
            m.d.comb += v.eq(out - (a << sh))
        sat_lo, sat_hi = self._fold_sides()
        r = v
        if sat_hi:
            r = Mux(v > hi, hi, r)
        if sat_lo:
            r = Mux(v < lo, lo, r)
        return Mux(sg, r, out)

    def _fold_sides(self) -> tuple[bool, bool]:
        """Which clamps the fold needs: both for ``regs``; for ``rom`` those some
        negative input code reaches (the model's pre-clamp value on every one)."""
        if self.lut == "regs":
            return True, True
        from hw.poly.model import magnitude, poly
        spec, dp = self.spec, self.dp
        q = np.arange(spec.input.min_code, 0, dtype=np.int64)
        a = magnitude(q, spec.input)
        Y = poly(a, *(c.values for c in spec.coefficients[:2]), dp, *(c.values for c in spec.coefficients[2:]))
        kind, K = spec.fold
        v = K - Y if kind == "odd" else Y - (a << (dp.y.frac - spec.input.frac))
        return bool(v.min() < dp.y.min_code), bool(v.max() > dp.y.max_code)

    def widths(self) -> dict:
        """Signal widths and what the datapath keeps: from the formats for
        ``regs``, from the table's actual values for ``rom`` (see the module doc)."""
        dp, spec = self.dp, self.spec
        if dp.degree == 2:
            return self._widths2()
        s = dp.out_shift
        C0 = np.array(spec.coefficients[0].values, dtype=object)
        C1 = np.array(spec.coefficients[1].values, dtype=object)
        if self.lut == "regs":
            return {"c0": dp.c0.bits, "c1": dp.c1.bits, "prod": dp.prod_bits, "acc": dp.rnd_bits,
                    "res": dp.res_bits, "fold": False, "sat_lo": True, "sat_hi": True}
        # rom: c0 is stored aligned, with the rounding constant folded in: (c0 << shift0) + 2^(s-1)
        c0 = (C0 << dp.shift0) + ((1 << (s - 1)) if s > 0 else 0)
        tmax = (1 << dp.m) - 1
        p_ends = [C1 * 0, C1 * tmax]
        a_ends = [c0 + (p << dp.shift1) for p in p_ends]
        r_ends = [a >> s if s > 0 else a << -s for a in a_ends]
        lo = lambda vs: int(min(min(v) for v in vs))      # noqa: E731
        hi = lambda vs: int(max(max(v) for v in vs))      # noqa: E731
        # the model's own rounding on the same ends (a check that the folding is exact)
        assert [list(r) for r in r_ends] == [list(round_half_up((C0 << dp.shift0) + (p << dp.shift1), s))
                                            for p in p_ends]
        return {"c0": _sbits(int(min(c0)), int(max(c0))), "c1": _sbits(int(min(C1)), int(max(C1))),
                "prod": _sbits(lo(p_ends), hi(p_ends)), "acc": _sbits(lo(a_ends), hi(a_ends)),
                "res": _sbits(lo(r_ends), hi(r_ends)), "fold": True, "c0_values": [int(v) for v in c0],
                "sat_lo": lo(r_ends) < dp.y.min_code, "sat_hi": hi(r_ends) > dp.y.max_code}

    def _widths2(self) -> dict:
        """Degree 2: ``widths`` with ``c2``, ``prod2``, ``q2`` and ``h``; for
        ``rom`` every range exact over all 2^w input codes (model arithmetic)."""
        dp, spec = self.dp, self.spec
        s = dp.out_shift
        if self.lut == "regs":
            return {"c0": dp.c0.bits, "c1": dp.c1.bits, "c2": dp.c2.bits, "prod2": dp.prod2_bits,
                    "q2": dp.q2_bits, "h": dp.h_bits, "prod": dp.prod_bits, "acc": dp.rnd_bits,
                    "res": dp.res_bits, "fold": False, "sat_lo": True, "sat_hi": True}
        dt = np.int64 if dp.fits_int64 else object
        C0, C1, C2 = (np.array(c.values, dtype=dt)[:, None] for c in spec.coefficients)
        t = np.arange(1 << dp.m, dtype=dt)[None, :]
        c0 = (C0 << dp.shift0) + ((1 << (s - 1)) if s > 0 else 0)
        p2 = C2 * t
        q2 = p2 >> dp.r if dp.r > 0 else p2 << -dp.r
        h = C1 + q2
        prod = h * t
        acc = c0 + (prod << dp.shift1)
        res = acc >> s if s > 0 else acc << -s
        # the model's own output on every code (a check that the folding is exact)
        from hw.fixed import saturate
        from hw.poly.model import poly
        assert np.array_equal(np.asarray(saturate(res.reshape(-1), dp.y), dtype=np.int64),
                              poly(dp.x.min_code + np.arange(1 << dp.x.bits), *(c.values for c in spec.coefficients[:2]),
                                   dp, spec.coefficients[2].values))

        def b(v):
            return _sbits(int(v.min()), int(v.max()))
        return {"c0": b(c0), "c1": b(C1), "c2": b(C2), "prod2": b(p2), "q2": b(q2), "h": b(h), "prod": b(prod),
                "acc": b(acc), "res": b(res), "fold": True, "c0_values": [int(v) for v in c0[:, 0]],
                "sat_lo": int(res.min()) < dp.y.min_code, "sat_hi": int(res.max()) > dp.y.max_code}

    def elaborate(self, platform):
        if self.dp.degree == 2:
            return self._elaborate2()
        m = Module()
        dp, spec = self.dp, self.spec
        w = self.widths()
        n, k, mb = spec.entries, dp.k, dp.m
        s = dp.out_shift
        c0s, c1s = signed(w["c0"]), signed(w["c1"])
        regs = None
        if self.lut == "regs":           # one register bank for every lane: c0 at 0..N-1, c1 at N..2N-1
            regs = []
            for col, (name, shape) in enumerate((("c0_", c0s), ("c1_", c1s))):
                bank = []
                for i, v in enumerate(spec.coefficients[col].values):
                    r = Signal(shape, name=f"{name}{i}", init=int(v))
                    with m.If(self.cfg_we & (self.cfg_addr == col * n + i)):
                        m.d.sync += r.eq(self.cfg_data[:shape.width])
                    bank.append(r)
                regs.append(bank)
        cuts = CUTS[self.stages]
        for x, y, p in lanes_of(self, _shape(spec.input), _shape(dp.y)):
            stage = stager(m, cuts, p)
            # 1: offset binary, segment (top k bits) and local offset (low m bits)
            off = self._front(m, x, p)
            seg = Signal(max(k, 1), name=p + "seg")
            m.d.comb += seg.eq(off[mb:] if k else 0)
            t = Signal(mb, name=p + "t")
            m.d.comb += t.eq(off[:mb])
            # 2: table read
            c0 = Signal(c0s, name=p + "c0_rd")
            c1 = Signal(c1s, name=p + "c1_rd")
            if regs is None:
                c0v, c1v = w["c0_values"], spec.coefficients[1].values
                if n == 1:
                    m.d.comb += [c0.eq(int(c0v[0])), c1.eq(int(c1v[0]))]
                else:
                    with m.Switch(seg):
                        for i in range(n):
                            with m.Case(i):
                                m.d.comb += [c0.eq(int(c0v[i])), c1.eq(int(c1v[i]))]
            else:
                m.d.comb += [c0.eq(Array(regs[0])[seg] if n > 1 else regs[0][0]),
                             c1.eq(Array(regs[1])[seg] if n > 1 else regs[1][0])]
            t1 = stage("read", "t1", t, unsigned(mb))
            c0_1 = stage("read", "c0_s2", c0, c0s)
            c1_1 = stage("read", "c1_s2", c1, c1s)
            # 3: the narrow multiplier (the "prod" cut carries c0 forward)
            prod = stage("prod", "prod", c1_1 * t1, signed(w["prod"]))
            c0_2 = stage("prod", "c0_s3", c0_1, c0s)
            # 4: align, add, round half up
            acc = Signal(signed(w["acc"]), name=p + "acc")
            if w["fold"]:                   # rom: c0 stored aligned, rounding constant included
                m.d.comb += acc.eq(c0_2 + (prod << dp.shift1))
            else:
                rnd = Const(1 << (s - 1), signed(s + 1)) if s > 0 else 0
                m.d.comb += acc.eq((c0_2 << dp.shift0) + (prod << dp.shift1) + rnd)
            res = Signal(signed(w["res"]), name=p + "res")
            m.d.comb += res.eq(acc >> s if s > 0 else acc << -s)
            # 5: saturate (only the sides the table can reach, for rom)
            lo, hi = dp.y.min_code, dp.y.max_code
            out = res
            if w["sat_hi"]:
                out = Mux(res > hi, hi, out)
            if w["sat_lo"]:
                out = Mux(res < lo, lo, out)
            drive_output(m, self, self._back(m, out, x, p, stage), y, valid=False)
        drive_valid(m, self)
        return m

    def _elaborate2(self):
        """Degree 2: Horner's form (see the module doc)."""
        m = Module()
        dp, spec = self.dp, self.spec
        w = self.widths()
        n, k, mb = spec.entries, dp.k, dp.m
        s, r = dp.out_shift, dp.r
        shapes = (signed(w["c0"]), signed(w["c1"]), signed(w["c2"]))
        regs = None
        if self.lut == "regs":           # one register bank for every lane: c_i at i*N..i*N+N-1
            regs = []
            for col, shape in enumerate(shapes):
                bank = []
                for i, v in enumerate(spec.coefficients[col].values):
                    rg = Signal(shape, name=f"c{col}_{i}", init=int(v))
                    with m.If(self.cfg_we & (self.cfg_addr == col * n + i)):
                        m.d.sync += rg.eq(self.cfg_data[:shape.width])
                    bank.append(rg)
                regs.append(bank)
        cuts = CUTS[self.stages]
        for x, y, p in lanes_of(self, _shape(spec.input), _shape(dp.y)):
            stage = stager(m, cuts, p)
            # 1: offset binary, segment (top k bits) and local offset (low m bits)
            off = self._front(m, x, p)
            seg = Signal(max(k, 1), name=p + "seg")
            m.d.comb += seg.eq(off[mb:] if k else 0)
            t = Signal(mb, name=p + "t")
            m.d.comb += t.eq(off[:mb])
            # 2: table read
            rd = [Signal(sh, name=f"{p}c{i}_rd") for i, sh in enumerate(shapes)]
            if regs is None:
                vals = (w["c0_values"], spec.coefficients[1].values, spec.coefficients[2].values)
                if n == 1:
                    m.d.comb += [c.eq(int(v[0])) for c, v in zip(rd, vals)]
                else:
                    with m.Switch(seg):
                        for i in range(n):
                            with m.Case(i):
                                m.d.comb += [c.eq(int(v[i])) for c, v in zip(rd, vals)]
            else:
                m.d.comb += [c.eq(Array(bank)[seg] if n > 1 else bank[0]) for c, bank in zip(rd, regs)]
            t1 = stage("read", "t1", t, unsigned(mb))
            c0_1, c1_1, c2_1 = (stage("read", f"c{i}_s2", c, sh) for i, (c, sh) in enumerate(zip(rd, shapes)))
            # 3: the slope at t, h = c1 + (c2 * t >>> r), then the second narrow multiplier
            p2 = Signal(signed(w["prod2"]), name=p + "p2")
            m.d.comb += p2.eq(c2_1 * t1)
            q2 = Signal(signed(w["q2"]), name=p + "q2")
            m.d.comb += q2.eq(p2 >> r if r > 0 else p2 << -r)
            h = stage("prod", "h", c1_1 + q2, signed(w["h"]))
            t2 = stage("prod", "t2", t1, unsigned(mb))
            c0_2 = stage("prod", "c0_s3", c0_1, shapes[0])
            prod = Signal(signed(w["prod"]), name=p + "prod")
            m.d.comb += prod.eq(h * t2)
            # 4: align, add, round half up
            acc = Signal(signed(w["acc"]), name=p + "acc")
            if w["fold"]:                   # rom: c0 stored aligned, rounding constant included
                m.d.comb += acc.eq(c0_2 + (prod << dp.shift1))
            else:
                rnd = Const(1 << (s - 1), signed(s + 1)) if s > 0 else 0
                m.d.comb += acc.eq((c0_2 << dp.shift0) + (prod << dp.shift1) + rnd)
            res = Signal(signed(w["res"]), name=p + "res")
            m.d.comb += res.eq(acc >> s if s > 0 else acc << -s)
            # 5: saturate (only the sides the table can reach, for rom)
            lo, hi = dp.y.min_code, dp.y.max_code
            out = res
            if w["sat_hi"]:
                out = Mux(res > hi, hi, out)
            if w["sat_lo"]:
                out = Mux(res < lo, lo, out)
            drive_output(m, self, self._back(m, out, x, p, stage), y, valid=False)
        drive_valid(m, self)
        return m
