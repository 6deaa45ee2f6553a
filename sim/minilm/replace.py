"""Replace MiniLM's non-linear operations by the hardware's golden models.

Every unit sees INT8 codes with a power-of-two scale per tensor, chosen by
calibration (the paper's constraint), and its output codes are dequantized:

* **GELU** (each FFN): input frac ``f`` = the largest with
  ``max|x| * 2**f <= 127`` over the calibration sentences; the table is a
  GELU spec fitted for that input format (``in_frac = out_frac = f``, range
  the whole code range ``[-2**(7-f), 2**(7-f)]``): one table per scale, as
  in the paper. Evaluated with ``hw.pwl_int.model.evaluate``.
* **softmax** (attention, per layer): the scores (``QK^T/sqrt(d)``) are
  quantized with a frac chosen the same way; the unit's exp table is fitted
  for that input format (range ``[-2**(7-f), 0]``; at ``f = 4`` it is the
  unit's default s8.4 table) and its reciprocal table is the default one.
  One sentence's rows are at most ROW_MAX = 128 long (sentences are
  truncated to 128 tokens). Evaluated with ``hw.softmax.batch.rows``,
  tested bit-equal to ``Softmax.row``. Output u8.8 probabilities.
* **LayerNorm, unit** (every one, 13 in all): input quantized with a
  calibrated frac, ``row_len`` 384, output s8 with the frac that holds the
  calibrated max of the normalized values (at most sqrt(383) = 19.6); the
  model's gamma and beta are then applied in float (the unit has none).
  eps is the model's 1e-12 (the unit's ``E`` term, 0 or 1 code at these scales).
  Evaluated with ``hw.layernorm.batch.rows``, tested bit-equal to ``LayerNorm.row``.
* **LayerNorm, rsqrt only**: float LayerNorm whose ``1/sqrt(var + eps)`` is
  the unit's rsqrt table: ``var + eps = m * 4**k`` with ``m`` in [1, 4),
  ``m`` truncated to the table's input format as the unit does, result
  ``RSQRT(m) * 2**-k``.

``method="float"`` keeps every quantization step but evaluates the exact
function on the same codes and rounds it to the same output format: an
ideal table, which separates the cost of INT8 I/O from the cost of the PWL.

``wide=True`` (diagnostic rows): the same generators at wider I/O where the
INT8 I/O is what costs accuracy in this model: GELU keeps its INT8 input
but has a 16-bit output (and 16-bit coefficients), LayerNorm takes 16-bit
input and gives 16-bit output (same calibrated ranges, 8 more fractional
bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.fixed import Fixed
from sim.minilm.model import Ops, gelu_float, softmax_float

S8 = 8


def frac_for(maxabs: float, bits: int = S8) -> int:
    """Largest frac with ``maxabs * 2**frac <= 2**(bits-1) - 1``."""
    if not maxabs > 0:
        return bits - 1
    return int(math.floor(math.log2(((1 << (bits - 1)) - 1) / maxabs)))


class Recorder(Ops):
    """FP32 ops that record the calibration statistics of every tensor."""

    def __init__(self):
        self.stats: dict[str, float] = {}

    def _up(self, key, v):
        self.stats[key] = max(self.stats.get(key, 0.0), float(v))

    def gelu(self, x, layer):
        self._up(f"gelu.L{layer}", np.abs(x).max())
        return super().gelu(x, layer)

    def softmax(self, s, layer):
        self._up(f"softmax.L{layer}", np.abs(s).max())
        return super().softmax(s, layer)

    def layernorm(self, x, gamma, beta, eps, site):
        self._up(f"layernorm.{site}.in", np.abs(x).max())
        x64 = x.astype(np.float64)
        z = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + eps)
        self._up(f"layernorm.{site}.out", np.abs(z).max())
        return super().layernorm(x, gamma, beta, eps, site)


def calibrate(model, sentences) -> dict:
    """Per-tensor max |value| and the chosen power-of-two fracs."""
    rec = Recorder()
    model.embed(sentences, rec)
    return {k: {"maxabs": v, "frac": frac_for(v)} for k, v in sorted(rec.stats.items())}


@dataclass
class TableSet:
    """Fits (or reuses, via ``fitter.build.ensure_spec``'s cache) every table
    one (entries, method) needs; ``method`` is "ga", "uniform" or "float"
    (no table: the exact function on the same codes)."""

    build: Path
    entries: int
    method: str = "ga"
    seed: int = 0
    quiet: bool = True
    _cache: dict = field(default_factory=dict)

    @property
    def fit_method(self) -> str:
        return "ga" if self.method == "float" else self.method

    def _spec(self, op: str, key: str, **opts):
        from fitter.build import ensure_spec
        k = (op, key)
        if k not in self._cache:
            d = Path(self.build) / self.fit_method / key
            self._cache[k] = ensure_spec(op, "int8", self.entries, d, self.quiet, seed=self.seed,
                                         method=self.fit_method, **opts)[0]
        return self._cache[k]

    def gelu(self, frac: int, wide: bool = False):
        half = 2.0 ** (7 - frac)
        if wide:        # INT8 input, 16-bit output and coefficients
            return self._spec("gelu", f"gelu_f{frac}_o16", in_frac=frac, out_bits=16, out_frac=frac + 8,
                              slope_bits=16, slope_frac=14, intercept_bits=16, intercept_frac=14,
                              range=[-half, half])
        return self._spec("gelu", f"gelu_f{frac}", in_frac=frac, out_frac=frac, range=[-half, half])

    def softmax(self, frac: int, row_max: int = 128):
        from fitter.composite import COMPOSITES
        from hw.softmax.model import Softmax
        ex = {k: v for k, v in COMPOSITES["softmax"]["exp"].items() if k != "op"}
        if frac != 4:
            ex.update(in_frac=frac, range=[-(2.0 ** (7 - frac)), 0.0])
        rc = {k: v for k, v in COMPOSITES["softmax"]["recip"].items() if k != "op"}
        return Softmax(self._spec("exp", f"softmax_exp_f{frac}", **ex),
                       self._spec("reciprocal", "softmax_recip", **rc), row_max=row_max)

    def rsqrt(self):
        from fitter.composite import COMPOSITES
        rs = {k: v for k, v in COMPOSITES["layernorm"]["rsqrt"].items() if k != "op"}
        return self._spec("rsqrt", "layernorm_rsqrt", **rs)

    def layernorm(self, in_frac: int, out_frac: int, row_len: int, eps: float, bits: int = S8):
        from hw.layernorm.model import LayerNorm
        extra = bits - S8       # wider formats keep the calibrated range, finer steps
        return LayerNorm(self.rsqrt(), row_len=row_len, input=Fixed(bits, True, in_frac + extra),
                         out=Fixed(bits, True, out_frac + extra), eps=eps)

    def specs(self) -> list:
        """[((op, key), spec)] of every table used so far, sorted."""
        return sorted(self._cache.items(), key=lambda kv: kv[0])


def rsqrt_float_ln(x, gamma, beta, eps, rsqrt_spec, exact: bool = False):
    """Float LayerNorm with 1/sqrt(var + eps) from the rsqrt table."""
    from hw.pwl_int.model import evaluate
    x64 = np.asarray(x, dtype=np.float64)
    xc = x64 - x64.mean(axis=-1, keepdims=True)
    v = (xc * xc).mean(axis=-1) + eps
    lead = np.frexp(v)[1] - 1                    # v in [2**lead, 2**(lead+1))
    k = np.floor_divide(lead, 2)                 # even exponent: v = m * 4**k, m in [1, 4)
    m = np.ldexp(v, -2 * k)
    fin = rsqrt_spec.input.frac
    mq = np.floor(np.ldexp(m, fin)).astype(np.int64)     # truncation, as the unit's normalize
    if exact:
        r = rsqrt_spec.output.quantize(1.0 / np.sqrt(mq * 2.0 ** -fin)) * rsqrt_spec.output.lsb
    else:
        r = evaluate(rsqrt_spec, mq) * rsqrt_spec.output.lsb
    rs = np.ldexp(r, -k)
    return (xc * rs[:, None] * gamma + beta).astype(np.float32)


class Replaced(Ops):
    """Ops with the chosen operations on the golden models.

    ``layernorm``: None (float), "unit" or "rsqrt"."""

    def __init__(self, tables: TableSet, cal: dict, gelu: bool = False, softmax: bool = False,
                 layernorm: str | None = None, row_max: int = 128, wide: bool = False):
        self.t, self.cal = tables, cal
        self.do_gelu, self.do_softmax, self.ln_mode = gelu, softmax, layernorm
        self.row_max = row_max
        self.wide = wide
        self.exact = tables.method == "float"
        self._lut: dict = {}
        self.saturated: dict[str, int] = {}
        self.overflow_rows = 0

    def prepare(self) -> None:
        """Fit (or reuse) every table this variant will use."""
        for k, c in self.cal.items():
            if self.do_gelu and k.startswith("gelu."):
                self._gelu_lut(c["frac"])
            elif self.do_softmax and k.startswith("softmax."):
                self.t.softmax(c["frac"], self.row_max)
        if self.ln_mode:
            self.t.rsqrt()

    # -- helpers
    def _quantize(self, key: str, fmt: Fixed, x) -> np.ndarray:
        q = fmt.quantize(x)
        n = int(np.count_nonzero((q == fmt.min_code) | (q == fmt.max_code)))
        if n:
            self.saturated[key] = self.saturated.get(key, 0) + n
        return q

    def _gelu_lut(self, frac: int) -> tuple[np.ndarray, Fixed]:
        """Output code for each of the 256 input codes (the unit is
        elementwise, so a lookup of ``evaluate`` over all codes is exact)."""
        if frac not in self._lut:
            spec = self.t.gelu(frac, self.wide)
            codes = spec.input.codes()
            if self.exact:
                out = spec.output.quantize(gelu_float(spec.input.to_real(codes)))
            else:
                from hw.pwl_int.model import evaluate
                out = evaluate(spec, codes)
            self._lut[frac] = (out, spec)
        return self._lut[frac]

    # -- ops
    def gelu(self, x, layer):
        if not self.do_gelu:
            return super().gelu(x, layer)
        out, spec = self._gelu_lut(self.cal[f"gelu.L{layer}"]["frac"])
        q = self._quantize(f"gelu.L{layer}", spec.input, x)
        return spec.output.to_real(out[q - spec.input.min_code]).astype(np.float32)

    def softmax(self, s, layer):
        if not self.do_softmax:
            return super().softmax(s, layer)
        sm = self.t.softmax(self.cal[f"softmax.L{layer}"]["frac"], self.row_max)
        q = self._quantize(f"softmax.L{layer}", sm.input, s).reshape(-1, s.shape[-1])
        if self.exact:
            p = sm.out.quantize(softmax_float(sm.input.to_real(q)))
        else:
            from hw.softmax.batch import rows
            p, ov = rows(sm, q)
            self.overflow_rows += len(q) if ov else 0
        return sm.out.to_real(p).reshape(s.shape[:-1] + (p.shape[-1],)).astype(np.float32)

    def layernorm(self, x, gamma, beta, eps, site):
        if self.ln_mode is None:
            return super().layernorm(x, gamma, beta, eps, site)
        if self.ln_mode == "rsqrt":
            return rsqrt_float_ln(x, gamma, beta, eps, self.t.rsqrt(), exact=self.exact)
        ln = self.t.layernorm(self.cal[f"layernorm.{site}.in"]["frac"], self.cal[f"layernorm.{site}.out"]["frac"],
                              x.shape[-1], eps, bits=16 if self.wide else S8)
        q = self._quantize(f"layernorm.{site}", ln.input, x)
        if self.exact:
            y = ln.out.quantize(_ln_ref(ln, q))
        else:
            from hw.layernorm.batch import rows
            y = rows(ln, q)
        return (ln.out.to_real(y) * gamma + beta).astype(np.float32)


def _ln_ref(ln, q) -> np.ndarray:
    """``LayerNorm.reference`` of every row, in real units."""
    v = ln.input.to_real(q)
    z = (v - v.mean(axis=-1, keepdims=True)) / np.sqrt(v.var(axis=-1, keepdims=True) + ln.eps)
    return z


VARIANTS = {
    "gelu": dict(gelu=True),
    "softmax": dict(softmax=True),
    "layernorm (unit)": dict(layernorm="unit"),
    "layernorm (rsqrt in float LN)": dict(layernorm="rsqrt"),
    "all (LN unit)": dict(gelu=True, softmax=True, layernorm="unit"),
    "all (LN rsqrt)": dict(gelu=True, softmax=True, layernorm="rsqrt"),
}

#: Diagnostic rows: the same generators at wider I/O where INT8 I/O is what
#: costs accuracy (GELU output, LayerNorm input and output); 16 entries.
WIDE_VARIANTS = {
    "gelu, 16-bit output": dict(gelu=True, wide=True),
    "layernorm (unit), 16-bit in/out": dict(layernorm="unit", wide=True),
    "all (LN unit), wide I/O": dict(gelu=True, softmax=True, layernorm="unit", wide=True),
}
