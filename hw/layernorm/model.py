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
* ``y_i = sat(round_half_up(D_i * r, f_r + k - f_y))``.

A row of identical values has ``D_i = 0`` and gives exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fixed import Fixed, round_half_up, saturate
from hw.norm import normalize
from hw.pwl_int.model import evaluate

DEFAULT_IN = Fixed(8, True, 4)
DEFAULT_OUT = Fixed(8, True, 5)


@dataclass(frozen=True)
class LayerNorm:
    rsqrt: object          # hw.spec.Spec of the rsqrt table on [1, 4)
    row_len: int = 64
    input: Fixed = DEFAULT_IN
    out: Fixed = DEFAULT_OUT
    eps: float = 1e-5

    @property
    def eps_code(self) -> int:
        return int(np.floor(self.eps * self.row_len ** 2 * 4.0 ** self.input.frac + 0.5))

    @property
    def w_bits(self) -> int:
        """Bits of W = n*Sxx - Sx^2 + E (unsigned): n*Sxx <= n^2 * 2^(2(b-1))."""
        big = max(-self.input.min_code, self.input.max_code)
        return (self.row_len ** 2 * big * big + self.eps_code).bit_length()

    def row(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.int64)
        if len(x) != self.row_len:
            raise ValueError(f"row of {len(x)} values; this unit's row length is {self.row_len}")
        n = self.row_len
        sx, sxx = int(x.sum()), int((x * x).sum())
        w = n * sxx - sx * sx + self.eps_code
        m, k = normalize(w, self.rsqrt.input.frac, step=2)
        r = int(evaluate(self.rsqrt, [m])[0])
        d = n * x - sx
        y = round_half_up(d * r, self.rsqrt.output.frac + k - self.out.frac)
        return np.asarray(saturate(y, self.out), dtype=np.int64)

    def reference(self, x) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64) * self.input.lsb
        return (v - v.mean()) / np.sqrt(v.var() + self.eps) * 2.0 ** self.out.frac
