"""Golden model of the LayerNorm unit (bit-exact), from the PWL golden model.

For a row of ``n`` input codes (``n`` = the generator's ``row_len``), with
``Sx = sum(x)`` and ``Sxx = sum(x^2)``, all exact integers:

* ``D_i = n*x_i - Sx``           (= n * (x_i - mean) in input codes)
* ``W = n*Sxx - Sx^2 + E``       (= n^2 * (var + eps) in input codes^2),
  ``E = round(eps * n^2 * 2^(2 f_x))``
* then (x_i - mean) / sqrt(var + eps) = D_i / sqrt(W): the input scale
  cancels, which is why one unit serves every power-of-two input scale
  (only ``E`` depends on it);
* ``W = m * 4**k * 2**-f_m`` with ``m`` in [1, 4) (leading one, even
  exponent, truncation) and ``r = RSQRT(m)`` (rsqrt PWL table on [1, 4));
  ``1/sqrt(W) = r * 2**-(f_r + k)``;
* without gamma/beta: ``y_i = sat(round_half_up(D_i * r, f_r + k - f_y))``;
* with per-channel gamma ``g_i`` (``f_g`` fractional bits) and beta ``b_i``
  (``f_b``), one rounding of the exact affine value:
  ``s = f_r + k + f_g - f_y``,
  ``y_i = sat(round_half_up(D_i * r * g_i + b_i * 2**(s + f_y - f_b), s))``.
  ``f_b <= f_y`` is required, so ``b_i`` is a whole number of output LSBs
  and the rounding commutes with adding it: the unit computes
  ``round_half_up(D_i * r * g_i, s) + b_i * 2**(f_y - f_b)``, which is the
  same integer (adding a multiple of ``2**s`` before a half-up shift by
  ``s`` adds that multiple divided by ``2**s`` after it).

A row of identical values has ``D_i = 0`` and gives exactly 0 (``b_i`` with
gamma/beta).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, round_half_up, saturate
from hw.norm import normalize
from hw.pwl_int.model import evaluate

#: gamma s8.6: [-2, 1.98] in steps of 1/64 holds the per-channel scales of
#: trained Transformers (mostly 0.2..1.5) with 1.6 % resolution at 1.0;
#: beta s8.5: [-4, 3.97], on the default output's grid (s8.5), so adding it
#: costs no extra rounding.
DEFAULT_GAMMA = Fixed(8, True, 6)
DEFAULT_BETA = Fixed(8, True, 5)


@dataclass(frozen=True)
class LayerNorm:
    #: the row-wise op (hw.rowwise.ROWWISE_OPS); its folder holds its stimulus (hw.rowwise.stimulus)
    OP = "layernorm"
    #: the op in the datasheet's words
    TEXT = "row-wise layer normalization, (x_i - mean) / sqrt(var + eps), optional per-channel gamma/beta"
    #: a row's outputs sum to nothing in particular (softmax's sum to one)
    ROW_SUM = None
    rsqrt: object          # hw.spec.Spec of the rsqrt table on [1, 4)
    # the unit's parameters, given by its configuration (hw/layernorm/config.py declares them and their
    # defaults) or its manifest (from_manifest)
    row_len: int
    input: Fixed
    out: Fixed
    eps: float
    gamma: tuple | None = None     # per-channel gamma codes (affine unit), or None
    beta: tuple | None = None      # per-channel beta codes; given together with gamma
    gamma_fmt: Fixed = DEFAULT_GAMMA
    beta_fmt: Fixed = DEFAULT_BETA

    def __post_init__(self):
        if (self.gamma is None) != (self.beta is None):
            raise ValueError("gamma and beta come together (both None: no affine step)")
        if not self.input.signed or not self.out.signed:
            raise ValueError("layernorm input and output formats must be signed (sB.F)")
        if self.affine:
            for name, vals, f in (("gamma", self.gamma, self.gamma_fmt), ("beta", self.beta, self.beta_fmt)):
                if len(vals) != self.row_len:
                    raise ValueError(f"{name} has {len(vals)} entries; the row length is {self.row_len}")
                bad = [i for i, v in enumerate(vals) if not f.fits(int(v))]
                if bad:
                    raise ValueError(f"{name}[{bad[0]}] = {vals[bad[0]]} does not fit {f.label()}")
            if not self.beta_fmt.signed or not self.gamma_fmt.signed:
                raise ValueError("gamma and beta formats must be signed (sB.F)")
            if self.beta_fmt.frac > self.out.frac:
                raise ValueError(f"beta {self.beta_fmt.label()} is finer than the output {self.out.label()}: "
                                 f"use at most {self.out.frac} fractional bits for beta")
            if self.rsqrt.output.frac + self.gamma_fmt.frac <= self.out.frac:
                raise ValueError("the rsqrt table and gamma together need more fractional bits than the output")

    @property
    def affine(self) -> bool:
        return self.gamma is not None

    @property
    def eps_code(self) -> int:
        return int(np.floor(self.eps * self.row_len ** 2 * 4.0 ** self.input.frac + 0.5))

    @property
    def w_bits(self) -> int:
        """Bits of W = n*Sxx - Sx^2 + E (unsigned): n*Sxx <= n^2 * 2^(2(b-1))."""
        big = max(-self.input.min_code, self.input.max_code)
        return (self.row_len ** 2 * big * big + self.eps_code).bit_length()

    def with_params(self, gamma, beta) -> "LayerNorm":
        """The same unit with other gamma/beta codes (what the write port loads)."""
        from dataclasses import replace
        return replace(self, gamma=tuple(int(v) for v in gamma), beta=tuple(int(v) for v in beta))

    #: the row-wise contract (as hw/softmax/model.py)
    flag = "out_error"
    #: subtract the mean (LayerNorm); RMSNorm (hw/rmsnorm) is the same unit without it
    centered = True
    #: per-channel beta registers beside gamma (RMSNorm has none)
    has_beta = True

    @classmethod
    def from_manifest(cls, specs: dict, man: dict) -> "LayerNorm":
        from hw.rowwise import fixed
        p, f = man["parameters"], man["formats"]
        kw = {}
        if p.get("affine"):
            kw = {"gamma": tuple(p["gamma"]), "beta": tuple(p["beta"]), "gamma_fmt": fixed(f["gamma"])}
            if "beta" in f:                 # RMSNorm has no beta format
                kw["beta_fmt"] = fixed(f["beta"])
        return cls(specs["rsqrt"], row_len=p["row_len"], input=fixed(f["input"]), out=fixed(f["output"]),
                   eps=p["eps"], **kw)

    def stream_row(self, x, lasts) -> tuple[np.ndarray, bool]:
        """A row of ``row_len`` elements with the ``in_last`` flags the unit
        saw: the outputs, and the error flag unless ``in_last`` was on the
        last element only (the unit counts; ``in_last`` is checked, not obeyed)."""
        return self.row(x), not (lasts[-1] and not any(lasts[:-1]))

    def stats(self, x) -> tuple[int, int, int]:
        """``(Sx, r, k)`` of a row: what the unit keeps between reading a row
        and writing its outputs (a two-pass unit gathers it on pass 1).
        Not centered (RMSNorm): ``Sx`` is 0, so ``W = n*Sxx + E``."""
        x = np.asarray(x, dtype=np.int64)
        if len(x) != self.row_len:
            raise ValueError(f"row of {len(x)} values; this unit's row length is {self.row_len}")
        n = self.row_len
        sx = int(x.sum()) if self.centered else 0
        sxx = int((x * x).sum())
        w = n * sxx - sx * sx + self.eps_code
        m, k = normalize(w, self.rsqrt.input.frac, step=2)
        r = int(evaluate(self.rsqrt, [m])[0])
        return sx, r, k

    def apply(self, st, x) -> np.ndarray:
        """The outputs of codes ``x`` under a row's statistics ``st`` (:meth:`stats`)."""
        sx, r, k = st
        x = np.asarray(x, dtype=np.int64)
        d = self.row_len * x - sx
        if not self.affine:
            y = round_half_up(d * r, self.rsqrt.output.frac + k - self.out.frac)
            return np.asarray(saturate(y, self.out), dtype=np.int64)
        s = self.rsqrt.output.frac + k + self.gamma_fmt.frac - self.out.frac
        g = np.array(self.gamma, dtype=object)
        b = np.array(self.beta, dtype=object)
        acc = d.astype(object) * r * g + b * (1 << (s + self.out.frac - self.beta_fmt.frac))
        y = round_half_up(acc, s)
        return np.asarray(saturate(y, self.out), dtype=np.int64)

    def row(self, x) -> np.ndarray:
        return self.apply(self.stats(x), x)

    def kept(self, x) -> list:
        """The elements every later pass carries: the whole row."""
        return list(x)

    def multi_pass(self, xs, lasts) -> tuple[np.ndarray, list[bool]]:
        """The row-wise contract's form of :meth:`two_pass` (hw/rowwise.transfers)."""
        return self.two_pass(xs[0], lasts[0], xs[1], lasts[1])

    def two_pass(self, x1, lasts1, x2, lasts2) -> tuple[np.ndarray, list[bool]]:
        """A row as the two-pass unit (``ROW_STORE=none``) receives it: its
        outputs are pass 2's codes under pass 1's statistics, and the error
        flag of output j is pass 1's misplaced ``in_last`` (anywhere) or a
        misplaced ``in_last`` of pass 2 at or before j (DESIGN.md "Multi-pass
        row protocol"). Identical passes give :meth:`row`."""
        n = self.row_len
        err1 = any(bool(a) != (j == n - 1) for j, a in enumerate(lasts1))
        flags, err2 = [], False
        for j, a in enumerate(lasts2):
            err2 = err2 or bool(a) != (j == n - 1)
            flags.append(err1 or err2)
        return self.apply(self.stats(x1), x2), flags

    def reference(self, x) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64) * self.input.lsb
        if self.centered:
            z = (v - v.mean()) / np.sqrt(v.var() + self.eps)
        else:
            z = v / np.sqrt((v * v).mean() + self.eps)
        if self.affine:
            z = z * self.gamma_fmt.to_real(self.gamma) + self.beta_fmt.to_real(self.beta)
        return z * 2.0 ** self.out.frac


MODEL = LayerNorm
