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
* **LayerNorm, unit** (every one, 13 in all): the unit with its
  per-channel gamma/beta stage (``--ln-affine``): input quantized with a
  calibrated frac, ``row_len`` 384, output with the frac that holds the
  calibrated max of ``gamma*z + beta``; gamma and beta are the model's,
  written to ``<params_dir>/<site>.json`` and rounded to their formats by
  ``hw.layernorm.config.read_params`` (what ``--ln-params`` does), so the unit
  is the one ``make gen ... LN_PARAMS=<site>.json`` builds.
  eps is the model's 1e-12 (the unit's ``E`` term, 0 or 1 code at these scales).
  Evaluated with ``hw.layernorm.batch.rows``, tested bit-equal to ``LayerNorm.row``.
* **LayerNorm, unit + float gamma/beta** (control only): the unit without
  the affine stage (output frac for the max of ``z``), gamma and beta
  applied in float to its dequantized output: what quantizing gamma and
  beta (and rounding once more) costs.
* **LayerNorm, rsqrt only**: float LayerNorm whose ``1/sqrt(var + eps)`` is
  the unit's rsqrt table: ``var + eps = m * 4**k`` with ``m`` in [1, 4),
  ``m`` truncated to the table's input format as the unit does, result
  ``RSQRT(m) * 2**-k``.

``method="float"`` keeps every quantization step but evaluates the exact
function on the same codes and rounds it to the same output format: an
ideal table, which separates the cost of INT8 I/O from the cost of the PWL.

Unit formats (``IO``): ``INT8`` above is the paper's setting. ``WIDE``
replaces the same ops by the same generators at 16 bits where INT8 I/O is
what costs accuracy in this model (the ``float`` rows show it): the int16
GELU unit (16-bit input and output), a LayerNorm unit with 16-bit input
and output and an int16 rsqrt table; softmax stays the INT8-input unit.
Each is a unit the generator builds; ``IO`` says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.fixed import Fixed
from eval.minilm.model import Ops, gelu_float, softmax_float

S8 = 8
#: Fitting range of the int16 GELU tables (see ``TableSet.gelu``).
GELU_WIDE_RANGE = 8.0


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
        # the affine unit's output range; can exceed max|z| (BERT's outlier channels)
        self._up(f"layernorm.{site}.affine", np.abs(z * gamma + beta).max())
        return super().layernorm(x, gamma, beta, eps, site)


def calibrate(model, sentences) -> dict:
    """Per-tensor max |value| and the chosen power-of-two fracs."""
    rec = Recorder()
    model.embed(sentences, rec)
    return {k: {"maxabs": v, "frac": frac_for(v)} for k, v in sorted(rec.stats.items())}


@dataclass(frozen=True)
class IO:
    """Formats of the units one configuration uses; every choice is a unit
    the generator builds (``make gen``), named by what it would be told.

    * ``gelu``: "int8" (s8 in/out with the calibrated frac, the paper's
      unit) or "int16" (``--format int16``: the int8 fit's breakpoints
      shifted left by 8, lines re-derived: s16 in/out with 8 more
      fractional bits, s16.14 slopes and intercepts);
    * ``layernorm``: "int8" or "int16" in and out (8 more fractional bits
      at the input; at the output as many as the calibrated range allows,
      but fewer than the rsqrt table's: the unit rounds ``D*r`` by a right
      shift of ``f_r + k - f_y``, and refuses ``f_r <= f_y``);
    * ``rsqrt``: the LayerNorm unit's table, "int8" (the unit's default
      u8.6 -> u9.8) or "int16" (same fit at ``--format int16``: u16.14 ->
      u17.16, s16.15 slopes, s18.16 intercepts);
    * softmax is always the INT8-input unit (s8 scores, u8.8 out): alone
      it costs 0.0002 in cosine.
    """

    name: str = "int8"
    gelu: str = "int8"
    layernorm: str = "int8"
    rsqrt: str = "int8"
    #: LayerNorm gamma/beta formats (``--ln-gamma``/``--ln-beta``); beta's
    #: frac is lowered to the output's where the output is coarser, since
    #: the unit needs f_b <= f_y
    ln_gamma: str = "s8.6"
    ln_beta: str = "s8.5"

    def describe(self) -> str:
        gb = f"gamma {self.ln_gamma}, beta {self.ln_beta} or coarser, at most the output's frac"
        if self == IO():
            return f"the paper's setting, every unit INT8 (LN {gb})"
        return f"GELU {self.gelu}, LN {self.layernorm} (rsqrt {self.rsqrt}, {gb}), softmax int8"

    @property
    def gamma_fmt(self) -> Fixed:
        from flow.config import parse_fixed
        return parse_fixed(self.ln_gamma, "gamma")

    def beta_fmt(self, out: Fixed) -> Fixed:
        from flow.config import parse_fixed
        b = parse_fixed(self.ln_beta, "beta")
        return Fixed(b.bits, True, min(b.frac, out.frac))


INT8 = IO()
#: The configuration judged against the target when it is measured. gamma
#: s16.14 / beta s16.10: see WIDE_GB8 for the 8-bit defaults.
WIDE = IO("wide", gelu="int16", layernorm="int16", rsqrt="int16", ln_gamma="s16.14", ln_beta="s16.10")
#: As WIDE with the generator's default 8-bit gamma/beta formats.
WIDE_GB8 = IO("wide, gamma/beta s8", gelu="int16", layernorm="int16", rsqrt="int16")
#: Wide I/O but the LayerNorm unit keeps its default rsqrt table, which caps
#: its 16-bit output at 7 fractional bits and leaves ~2^-7 relative error.
WIDE_RS8 = IO("wide, rsqrt int8", gelu="int16", layernorm="int16", rsqrt="int8",
              ln_gamma=WIDE.ln_gamma, ln_beta=WIDE.ln_beta)
IOS = {io.name: io for io in (INT8, WIDE, WIDE_GB8, WIDE_RS8)}


@dataclass
class TableSet:
    """Fits (or reuses, via ``flow.build.ensure_spec``'s cache) every table
    one (entries, method) needs; ``method`` is "ga", "uniform" or "float"
    (no table: the exact function on the same codes)."""

    build: Path
    entries: int
    method: str = "ga"
    seed: int = 0
    quiet: bool = True
    #: where the per-site gamma/beta JSON files go (default <build>/ln_params)
    params_dir: Path | None = None
    _cache: dict = field(default_factory=dict)

    @property
    def fit_method(self) -> str:
        return "ga" if self.method == "float" else self.method

    @property
    def fit(self):
        from flow.config import FitOptions
        return FitOptions(seed=self.seed, method=self.fit_method)

    @property
    def root(self) -> Path:
        return Path(self.build) / self.fit_method

    def gelu_config(self, frac: int, fmt: str = "int8"):
        """The configuration of the GELU unit for the int8 input frac ``frac`` (see :meth:`gelu`)."""
        from dataclasses import replace

        from flow.config import Elementwise
        half = 2.0 ** (7 - frac)
        if fmt == "int8":
            fit = replace(self.fit, in_frac=frac, out_frac=frac, range=(-half, half))
        else:
            r = min(half, GELU_WIDE_RANGE)
            fit = replace(self.fit, in_frac=frac, out_frac=frac, range=(-r, r), objective="fp")
        return Elementwise("gelu", fmt, self.entries, fit=fit)

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def gelu(self, frac: int, fmt: str = "int8"):
        """GELU table for the int8 input frac ``frac``.

        int8: fitted over the whole code range ``[-2**(7-f), 2**(7-f)]`` with
        the default (``hw``) objective, the paper's setting. int16: the
        int8 breakpoints shifted left by 8 with re-derived lines, so the
        placement is all that the int8 search contributes, and the ``hw``
        objective cannot judge it: at 8-bit output half an LSB of rounding
        hides where the breakpoints sit (at s8.2 the search spends 8 of 15
        on the linear tails, 108 LSB max error at s16.10). The int16 table
        is therefore searched with the ``fp`` objective (the paper's: the
        lines themselves, in float) over [-8, 8] (the end lines extrapolate
        GELU's linear asymptotes beyond; [-4, 4] and [-6, 6] were measured
        worse, the whole range too)."""
        from flow.build import ensure_spec
        cfg = self.gelu_config(frac, fmt)
        return self._cached(("gelu", frac, fmt), lambda: ensure_spec(cfg, self.root, self.quiet)[0])

    def softmax_config(self, frac: int, row_max: int = 128, row_store: str = "ff"):
        from hw.softmax.config import Softmax
        return Softmax(self.entries, row_max, frac, fit=self.fit, row_store=row_store)

    def softmax(self, frac: int, row_max: int = 128, row_store: str = "ff"):
        """The softmax unit's golden model, as `make gen OP=softmax SM_IN_FRAC=frac ROW_STORE=...`
        builds it (the row store picks the arithmetic: hw/softmax/config.py)."""
        from flow.build import rowwise_model
        cfg = self.softmax_config(frac, row_max, row_store)
        return self._cached(("softmax", frac, row_max, row_store),
                            lambda: rowwise_model(cfg, self.root, self.quiet)[0])

    def rsqrt(self, fmt: str = "int8"):
        """The layernorm unit's rsqrt table at ``fmt`` (the generator's own cache)."""
        from flow.build import tables
        from hw.layernorm.config import LayerNorm
        cfg = LayerNorm(self.entries, rsqrt=fmt, fit=self.fit)
        return self._cached(("rsqrt", fmt), lambda: tables(cfg, self.root, self.quiet)["rsqrt"])

    def params_file(self, site: str, gamma, beta) -> Path:
        """Write the model's real gamma/beta of ``site`` as the generator's
        ``--ln-params`` JSON (float32 values print exactly) and return it."""
        import json
        d = Path(self.params_dir) if self.params_dir else Path(self.build) / "ln_params"
        path = d / f"{site}.json"
        text = json.dumps({"gamma": [float(v) for v in np.asarray(gamma, dtype=np.float32)],
                           "beta": [float(v) for v in np.asarray(beta, dtype=np.float32)]}) + "\n"
        if not path.is_file() or path.read_text() != text:
            d.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return path

    def ln_config(self, in_max: float, out_max: float, row_len: int, eps: float, io: IO = INT8,
                  params: Path | None = None):
        """The ``hw.layernorm.config.LayerNorm`` of the unit for a site's calibrated
        input max and output max (of ``gamma*z + beta`` with ``params``, of
        ``z`` without): what ``make gen OP=layernorm LN_...`` is told."""
        from hw.layernorm.config import LayerNorm, rsqrt_out_frac
        bits = 16 if io.layernorm == "int16" else S8
        f_r = rsqrt_out_frac(io.rsqrt)
        out = Fixed(bits, True, min(frac_for(out_max, bits), f_r - 1))
        kw = {}
        if params is not None:
            kw = dict(affine=True, gamma_fmt=io.gamma_fmt, beta_fmt=io.beta_fmt(out), params=Path(params))
        return LayerNorm(self.entries, row_len, input=Fixed(bits, True, frac_for(in_max, bits)), out=out,
                         eps=eps, rsqrt=io.rsqrt, fit=self.fit, **kw)

    def layernorm(self, in_max: float, out_max: float, row_len: int, eps: float, io: IO = INT8,
                  params: Path | None = None):
        """The LayerNorm unit (golden model) of :meth:`ln_config`, built by the
        generator's own code (gamma/beta rounded from ``params`` as
        ``--ln-params`` rounds them)."""
        from flow.build import rowwise_model
        return rowwise_model(self.ln_config(in_max, out_max, row_len, eps, io, params), self.root, self.quiet)[0]

    def specs(self) -> list:
        """[(name, spec)] of every table used so far, sorted by name."""
        out = {}
        for key, v in self._cache.items():
            if key[0] == "softmax":
                out.update({f"softmax_{name}_f{key[1]}": spec for name, spec in v.tables().items()})
            elif key[0] == "gelu":
                out[f"gelu_f{key[1]}_{key[2]}"] = v
            else:
                out[f"layernorm_rsqrt_{key[1]}"] = v
        return sorted(out.items())


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

    ``layernorm``: None (float), "unit" (the unit with its own gamma/beta),
    "unit-float-affine" (control: the unit without them, gamma/beta in
    float) or "rsqrt"; ``io``: the unit formats."""

    def __init__(self, tables: TableSet, cal: dict, gelu: bool = False, softmax: bool = False,
                 layernorm: str | None = None, row_max: int = 128, io: IO = INT8):
        self.t, self.cal = tables, cal
        self.do_gelu, self.do_softmax, self.ln_mode = gelu, softmax, layernorm
        self.row_max = row_max
        self.io = io
        self.exact = tables.method == "float"
        self._lut: dict = {}
        self._lns: dict = {}
        self._ln_files: dict = {}
        self._ln_cfgs: dict = {}
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
            self.t.rsqrt(self.io.rsqrt if self.ln_mode != "rsqrt" else "int8")

    def formats(self) -> dict:
        """The unit formats this variant uses (for the report)."""
        out = {}
        if self.do_gelu:
            out["gelu"] = sorted({f"{s.input.label()} -> {s.output.label()}"
                                  for s in (self._gelu_lut(c["frac"])[1] for k, c in self.cal.items()
                                            if k.startswith("gelu."))})
        if self.do_softmax:
            sm = self.t.softmax(4, self.row_max)
            out["softmax"] = f"s8 scores -> {sm.out.label()}"
        if self.ln_mode in ("unit", "unit-float-affine"):
            lns = self._lns.values()
            rs = self.t.rsqrt(self.io.rsqrt)
            out["layernorm"] = sorted({f"{ln.input.label()} -> {ln.out.label()}" for ln in lns})
            out["rsqrt"] = f"{rs.input.label()} -> {rs.output.label()}"
            if self.ln_mode == "unit":
                out["gamma/beta"] = sorted({f"{ln.gamma_fmt.label()} / {ln.beta_fmt.label()}" for ln in lns})
            else:
                out["gamma/beta"] = "float, on the dequantized output (control)"
        elif self.ln_mode == "rsqrt":
            rs = self.t.rsqrt("int8")
            out["rsqrt"] = f"{rs.input.label()} -> {rs.output.label()} in float LayerNorm"
        return out

    # -- helpers
    def _quantize(self, key: str, fmt: Fixed, x) -> np.ndarray:
        q = fmt.quantize(x)
        n = int(np.count_nonzero((q == fmt.min_code) | (q == fmt.max_code)))
        if n:
            self.saturated[key] = self.saturated.get(key, 0) + n
        return q

    def _gelu_lut(self, frac: int) -> tuple[np.ndarray, Fixed]:
        """Output code for each input code (256 or 65536; the unit is
        elementwise, so a lookup of ``evaluate`` over all codes is exact)."""
        if frac not in self._lut:
            spec = self.t.gelu(frac, self.io.gelu)
            codes = spec.input.codes()
            if self.exact:
                out = spec.output.quantize(gelu_float(spec.input.to_real(codes)))
            else:
                from hw.pwl_int.model import evaluate
                out = evaluate(spec, codes)
            self._lut[frac] = (out, spec)
        return self._lut[frac]

    def _ln(self, site: str, row_len: int, eps: float, gamma, beta):
        if site not in self._lns:
            c = self.cal
            if self.ln_mode == "unit":
                params = self.t.params_file(site, gamma, beta)
                out_max = c[f"layernorm.{site}.affine"]["maxabs"]
            else:
                params, out_max = None, c[f"layernorm.{site}.out"]["maxabs"]
            args = (c[f"layernorm.{site}.in"]["maxabs"], out_max, row_len, eps, self.io, params)
            self._lns[site] = self.t.layernorm(*args)
            self._ln_cfgs[site] = self.t.ln_config(*args)
            self._ln_files[site] = params
        return self._lns[site]

    def layernorm_units(self) -> dict:
        """{site: (LayerNorm golden model, gamma/beta file or None)} of the sites run so far."""
        return {k: (self._lns[k], self._ln_files[k]) for k in sorted(self._lns)}

    def layernorm_configs(self) -> dict:
        """{site: hw.layernorm.config.LayerNorm} of the sites run so far."""
        return {k: self._ln_cfgs[k] for k in sorted(self._lns)}

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
        ln = self._ln(site, x.shape[-1], eps, gamma, beta)
        q = self._quantize(f"layernorm.{site}", ln.input, x)
        if self.exact:
            y = ln.out.quantize(_ln_ref(ln, q))
        else:
            from hw.layernorm.batch import rows
            y = rows(ln, q)
        n = int(np.count_nonzero((y == ln.out.min_code) | (y == ln.out.max_code)))
        if n:
            self.saturated[f"layernorm.{site}.out"] = self.saturated.get(f"layernorm.{site}.out", 0) + n
        if ln.affine:
            return ln.out.to_real(y).astype(np.float32)
        return (ln.out.to_real(y) * gamma + beta).astype(np.float32)


def _ln_ref(ln, q) -> np.ndarray:
    """``LayerNorm.reference`` of every row, in real units (with the unit's
    quantized gamma/beta when it has them)."""
    v = ln.input.to_real(q)
    z = (v - v.mean(axis=-1, keepdims=True)) / np.sqrt(v.var(axis=-1, keepdims=True) + ln.eps)
    if ln.affine:
        z = z * ln.gamma_fmt.to_real(np.asarray(ln.gamma)) + ln.beta_fmt.to_real(np.asarray(ln.beta))
    return z


VARIANTS = {
    "gelu": dict(gelu=True),
    "softmax": dict(softmax=True),
    "layernorm (unit)": dict(layernorm="unit"),
    "layernorm (rsqrt in float LN)": dict(layernorm="rsqrt"),
    "all (LN unit)": dict(gelu=True, softmax=True, layernorm="unit"),
    "all (LN rsqrt)": dict(gelu=True, softmax=True, layernorm="rsqrt"),
}

#: Control: as "all (LN unit)" but the unit without its gamma/beta stage and
#: gamma/beta in float (how the evaluation ran before the unit had them).
CONTROL_VARIANTS = {
    "all (LN unit, float gamma/beta)": dict(gelu=True, softmax=True, layernorm="unit-float-affine"),
}

#: Rows at the wider unit formats (``IO`` other than INT8): each op alone
#: where its I/O is what limits accuracy, and all together.
WIDE_VARIANTS = {
    "gelu": dict(gelu=True),
    "layernorm (unit)": dict(layernorm="unit"),
    "all (LN unit)": dict(gelu=True, softmax=True, layernorm="unit"),
}


def _rel(path: Path) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def gen_commands(ops: Replaced, entries: int) -> list[dict]:
    """The ``make gen`` command lines that build the units ``ops`` ran (after
    it ran: the LayerNorm sites are known then), one per distinct unit:
    [{"op", "used_by", "command"}], each the unit configuration's own line.
    Only for fitted tables ("ga", "uniform")."""
    out = []
    t = TableSet(ops.t.build, entries, ops.t.fit_method, ops.t.seed)
    for op, enabled in (("gelu", ops.do_gelu), ("softmax", ops.do_softmax)):
        if not enabled:
            continue
        by_frac: dict = {}
        for k, c in ops.cal.items():
            if k.startswith(op + "."):
                by_frac.setdefault(c["frac"], []).append(k.split(".", 1)[1])
        for f, layers in sorted(by_frac.items()):
            cfg = t.gelu_config(f, ops.io.gelu) if op == "gelu" else t.softmax_config(f, ops.row_max)
            out.append({"op": op, "used_by": layers, "command": cfg.make_line()})
    files = ops.layernorm_units()
    for site, cfg in ops.layernorm_configs().items():
        params = files[site][1]
        out.append({"op": "layernorm", "used_by": [site],
                    "command": cfg.make_line(params_as=_rel(params) if params is not None else None)})
    return out
