"""``make dse-model``: choose the non-linear units for a model, not for an op.

``gqa-lut dse-model`` (``python -m eval.dse_model``) searches, on
all-MiniLM-L6-v2 (``eval/minilm``), one unit per op kind (GELU, softmax,
LayerNorm) for the smallest total area that keeps the model's embeddings
accurate, and writes ``<out>/report.{md,json}`` and ``<out>/pareto.png``.

**Knobs** (:data:`KNOBS`, values most accurate first):

* ``gelu_fmt`` int16 / int12 / int8, ``gelu_entries`` 16 / 8, ``gelu_scale``
  ``layer`` (each layer's calibrated power-of-two scale, its own table: one
  ``LUT=regs`` unit whose table is reloaded per layer) or ``common`` (one
  scale for all layers, the one that holds the largest input: one ``LUT=rom``
  unit);
* ``sm_frac`` (the scores' format s8.F): ``layer`` (each layer's calibrated F:
  one softmax unit per distinct F, each counted) or one F for every layer
  (one unit; the calibrated smallest F and the two above it, where the largest
  scores saturate); ``sm_entries`` 16 / 8 (exp and reciprocal tables);
* ``ln_gb`` gamma/beta s16.14/s16.10, s12.10/s12.8 or s8.6/s8.5; ``ln_rsqrt`` int16 / int8;
  ``ln_out`` 16 / 12 / 8 bits (one frac for every site: the largest that
  holds every site's calibrated max of gamma*z + beta, below the rsqrt
  table's); ``ln_in`` 16 / 12 / 8 bits (each site's calibrated frac: the
  unit's Verilog does not depend on the input frac at eps 1e-12, so one unit
  serves every site). Row length 384, rsqrt table 16 entries, eps 1e-12.

**Search** (:func:`search`, deterministic: no random choice; the fitter's
seed is fixed, ``--seed``): start from the most accurate value of every knob
(today's "wide" configuration, :data:`WIDE`); then, knob by knob in the fixed
order of :data:`KNOBS`, evaluate the configuration with that knob at each of
its other values (the others as they stand) and keep the value of least total
area among those that meet the search target; repeat for ``--passes`` passes
or until a pass changes nothing. The search target is the user's (cosine >=
``--min-cos``, top-1 >= ``--min-top1``) on the search subset, lowered per
metric to what the start configuration reaches there when it does not reach
it (so the search keeps the wide configuration's accuracy instead of chasing
one it cannot reach). Then the start, the paper's INT8 setting
(:data:`PAPER`), the search's result and the subset's Pareto front are
evaluated on the full evaluation set (the front's points by cosine, highest
first, at most ``--confirm``); the recommendation is the smallest of
those that meets the user's target there, or, when none does, the one
closest to it (least normalized shortfall, then least area).

**Area** (:func:`units`): each unit built by the generator and synthesized
once by the project's flow (Yosys + OpenSTA, the ``make dse`` settings and
cache: ``<build>/dse/results/<unit>.json`` under a key of its Verilog, tables
and synthesis settings); the total is the sum over the configuration's units.
Row-wise units with ``--row-store`` ``none`` (the caller streams each row
once per pass) or ``sram`` (the row in the chip's SRAM macro, whose area is
not counted: its words x bits are reported beside).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: the search's knobs, in the order the search visits them; values most accurate first.
#: ``sm_frac``'s integer values are filled in from the calibration (:func:`knob_values`).
KNOBS = (
    ("ln_gb", ("s16", "s12", "s8")),
    ("ln_rsqrt", ("int16", "int8")),
    ("ln_out", (16, 12, 8)),
    ("ln_in", (16, 12, 8)),
    ("sm_frac", ("layer", "c0", "c1", "c2")),
    ("sm_entries", (16, 8)),
    ("gelu_scale", ("layer", "common")),
    ("gelu_fmt", ("int16", "int12", "int8")),
    ("gelu_entries", (16, 8)),
)
#: today's "wide" configuration (README, make eval-model), where the search starts
WIDE = {"ln_gb": "s16", "ln_rsqrt": "int16", "ln_out": 16, "ln_in": 16, "sm_frac": "layer", "sm_entries": 16,
        "gelu_scale": "layer", "gelu_fmt": "int16", "gelu_entries": 16}
#: the paper's setting: every unit INT8, 8 entries, a table per calibrated scale
PAPER = {"ln_gb": "s8", "ln_rsqrt": "int8", "ln_out": 8, "ln_in": 8, "sm_frac": "layer", "sm_entries": 8,
         "gelu_scale": "layer", "gelu_fmt": "int8", "gelu_entries": 8}
GB_FORMATS = {"s16": ("s16.14", "s16.10"), "s12": ("s12.10", "s12.8"), "s8": ("s8.6", "s8.5")}
LN_ENTRIES = 16
ROW_MAX = 128
MODELS = ("minilm",)
ROW_STORES = ("none", "sram")


def key_of(cfg: dict) -> str:
    return json.dumps({k: cfg[k] for k in sorted(cfg)}, sort_keys=True)


def describe(cfg: dict) -> str:
    """One short line per configuration (``k=v, ...`` for other knob sets)."""
    if set(cfg) != set(WIDE):
        return ", ".join(f"{k}={cfg[k]}" for k in sorted(cfg))
    sm = "F per layer" if cfg["sm_frac"] == "layer" else f"F {cfg['sm_frac']}"
    return (f"GELU {cfg['gelu_fmt']} e{cfg['gelu_entries']} {cfg['gelu_scale']} | softmax e{cfg['sm_entries']} {sm} | "
            f"LN in {cfg['ln_in']} out {cfg['ln_out']} rsqrt {cfg['ln_rsqrt']} g/b {cfg['ln_gb']}")


# -- the search (pure: evaluate and area are passed in) -----------------------------------

@dataclass
class Target:
    cos: float = 0.999
    top1: float = 0.99

    def meets(self, m: dict) -> bool:
        return m["cos_mean"] >= self.cos and m["top1"] >= self.top1

    def shortfall(self, m: dict) -> float:
        """Distance to the target, each metric relative to its distance from 1."""
        return max(0.0, (self.cos - m["cos_mean"]) / max(1 - self.cos, 1e-12),
                   (self.top1 - m["top1"]) / max(1 - self.top1, 1e-12))


@dataclass
class SearchResult:
    best: dict
    target: Target
    trace: list = field(default_factory=list)     # every evaluation, in order
    passes: int = 0


def search(start: dict, knobs, evaluate, area, target: Target, passes: int = 1, log=None) -> SearchResult:
    """Coordinate-wise descent (module docstring). ``evaluate(cfg) -> {cos_mean,
    top1, ...}``, ``area(cfg) -> um2``; both called once per distinct
    configuration. Deterministic for deterministic ``evaluate``/``area``."""
    seen: dict = {}
    trace: list = []

    def point(cfg, why):
        k = key_of(cfg)
        if k not in seen:
            m = dict(evaluate(cfg))
            seen[k] = {"config": dict(cfg), "area_um2": float(area(cfg)), **m}
            trace.append({**seen[k], "step": len(trace) + 1, "why": why})
            if log:
                log(trace[-1])
        return seen[k]

    s = point(start, "start")
    eff = Target(min(target.cos, s["cos_mean"]), min(target.top1, s["top1"]))

    def rank(p):
        return (0, p["area_um2"], key_of(p["config"])) if eff.meets(p) else \
            (1, eff.shortfall(p), p["area_um2"], key_of(p["config"]))

    cur = dict(start)
    done = 0
    for done in range(1, passes + 1):
        changed = False
        for name, values in knobs:
            cands = [point(cur, "current")]
            for v in values:
                if v != cur[name]:
                    cands.append(point({**cur, name: v}, f"pass {done}: {name}={v}"))
            best = min(cands, key=rank)
            if best["config"] != cur:
                cur, changed = dict(best["config"]), True
        if not changed:
            break
    res = SearchResult(cur, eff, trace, done)
    return res


def pareto(points: list[dict]) -> list[dict]:
    """The points no other point beats on area, cosine and top-1 at once
    (ties kept once), sorted by area."""
    out = []
    for p in points:
        dom = any(q is not p and q["area_um2"] <= p["area_um2"] and q["cos_mean"] >= p["cos_mean"]
                  and q["top1"] >= p["top1"] and (q["area_um2"], q["cos_mean"], q["top1"])
                  != (p["area_um2"], p["cos_mean"], p["top1"]) for q in points)
        if not dom and not any(key_of(o["config"]) == key_of(p["config"]) for o in out):
            out.append(p)
    return sorted(out, key=lambda p: (p["area_um2"], key_of(p["config"])))


def recommend(points: list[dict], target: Target) -> tuple[dict | None, bool]:
    """(the smallest point meeting ``target``, True) or (the closest, False)."""
    ok = [p for p in points if target.meets(p)]
    if ok:
        return min(ok, key=lambda p: (p["area_um2"], key_of(p["config"]))), True
    if not points:
        return None, False
    return min(points, key=lambda p: (target.shortfall(p), p["area_um2"], key_of(p["config"]))), False


# -- the model side ---------------------------------------------------------------------

def _frac_for(maxabs: float, bits: int) -> int:
    from eval.minilm.replace import frac_for
    return frac_for(maxabs, bits)


class Context:
    """The model, its calibration, the table sets and the unit builder of one run."""

    def __init__(self, model, cal: dict, build: Path, seed: int = 0, row_store: str = "none", quiet: bool = True):
        from eval.minilm.replace import TableSet
        self.model, self.cal, self.seed, self.row_store = model, cal, seed, row_store
        self.root = Path(build) / "dse-model" / "units"
        self.params_dir = Path(build) / "dse-model" / "ln_params"
        self._ts = {}
        self._TableSet = TableSet
        self._ln_params: dict = {}
        self.quiet = quiet

    def tables(self, entries: int):
        if entries not in self._ts:
            self._ts[entries] = self._TableSet(self.root, entries, "ga", seed=self.seed, params_dir=self.params_dir)
        return self._ts[entries]

    @property
    def units_root(self) -> Path:
        return self.root / "ga"             # TableSet.root: the fits and the built units share it

    # calibration
    def fracs(self, op: str) -> dict:
        return {k.split(".", 1)[1]: v["frac"] for k, v in self.cal.items() if k.startswith(op + ".")}

    def gelu_frac(self, cfg, layer: int) -> int:
        f = self.fracs("gelu")
        return f[f"L{layer}"] if cfg["gelu_scale"] == "layer" else min(f.values())

    def sm_frac(self, cfg, layer: int) -> int:
        f = self.fracs("softmax")
        v = cfg["sm_frac"]
        if v == "layer":
            return f[f"L{layer}"]
        return max(0, min(7, min(f.values()) + int(v[1:])))

    def ln_config(self, cfg, site: str, gamma=None, beta=None):
        """The LayerNorm unit's configuration at ``site`` (gamma/beta file
        written from the model's values when given)."""
        from flow.config import parse_fixed
        from hw.layernorm.config import LayerNorm, rsqrt_out_frac
        from hw.fixed import Fixed
        c = self.cal
        f_r = rsqrt_out_frac(cfg["ln_rsqrt"])
        sites = [k[len("layernorm."):-len(".affine")] for k in c if k.startswith("layernorm.") and k.endswith(".affine")]
        out_frac = min(min(_frac_for(c[f"layernorm.{s}.affine"]["maxabs"], cfg["ln_out"]) for s in sites), f_r - 1)
        out = Fixed(cfg["ln_out"], True, out_frac)
        g, b = GB_FORMATS[cfg["ln_gb"]]
        gf, bf = parse_fixed(g, "gamma"), parse_fixed(b, "beta")
        bf = Fixed(bf.bits, True, min(bf.frac, out.frac))
        if gamma is not None:
            self._ln_params[site] = self.tables(LN_ENTRIES).params_file(site, gamma, beta)
        inp = Fixed(cfg["ln_in"], True, _frac_for(c[f"layernorm.{site}.in"]["maxabs"], cfg["ln_in"]))
        return LayerNorm(LN_ENTRIES, self.model.hidden, input=inp, out=out, eps=self.model.eps, affine=True,
                         gamma_fmt=gf, beta_fmt=bf, rsqrt=cfg["ln_rsqrt"], fit=self.tables(LN_ENTRIES).fit,
                         params=self._ln_params[site])

    def ensure_ln_params(self):
        m = self.model
        pairs = {"emb": (m.emb_g, m.emb_b)}
        for i, L in enumerate(m.layers):
            pairs[f"L{i}.attn"], pairs[f"L{i}.ffn"] = (L.ln1_g, L.ln1_b), (L.ln2_g, L.ln2_b)
        for site, (g, b) in pairs.items():
            if site not in self._ln_params:
                self._ln_params[site] = self.tables(LN_ENTRIES).params_file(site, g, b)

    # the units of a configuration, for the area
    def units(self, cfg: dict) -> list[dict]:
        """[{op, config (flow.config), count, note}]: the hardware one configuration needs."""
        from dataclasses import replace

        out = []
        gf = self.fracs("gelu")
        layers = sorted(gf, key=lambda s: int(s[1:]))
        if cfg["gelu_scale"] == "layer":
            g = self.tables(cfg["gelu_entries"]).gelu_config(gf[layers[0]], cfg["gelu_fmt"])
            fr = sorted({gf[x] for x in layers})
            out.append({"op": "gelu", "config": replace(g, lut="regs"), "count": 1,
                        "note": f"LUT=regs, the table of each layer's scale (input frac {', '.join(map(str, fr))} "
                                "at INT8) loaded through cfg_* before the layer; built with layer 0's"})
        else:
            f = min(gf.values())
            out.append({"op": "gelu", "config": self.tables(cfg["gelu_entries"]).gelu_config(f, cfg["gelu_fmt"]),
                        "count": 1, "note": f"LUT=rom, one scale for every layer (INT8 input frac {f})"})
        sf = sorted({self.sm_frac(cfg, int(x[1:])) for x in self.fracs("softmax")})
        for f in sf:
            sm = self.tables(cfg["sm_entries"]).softmax_config(f, ROW_MAX, self.row_store)
            out.append({"op": "softmax", "config": sm, "count": 1,
                        "note": ("one unit per calibrated score scale" if len(sf) > 1 else "one unit for every layer")
                        + f" (s8.{f} scores)"})
        self.ensure_ln_params()
        ln = replace(self.ln_config(cfg, "emb"), row_store=self.row_store)
        out.append({"op": "layernorm", "config": ln, "count": 1,
                    "note": "one unit for every site: each site's gamma/beta written through cfg_* before it, its "
                            "input scale the site's calibrated one (the same Verilog); built with the emb site's"})
        return out


class ChoiceOps:
    """MiniLM's ops on the golden models of one configuration (``only``: the
    ops replaced; the others stay FP32)."""

    def __init__(self, ctx: Context, cfg: dict, only=("gelu", "softmax", "layernorm")):
        self.ctx, self.cfg, self.only = ctx, cfg, set(only)
        self._gelu: dict = {}
        self._ln: dict = {}

    def gelu(self, x, layer):
        import numpy as np

        from eval.minilm.model import gelu_float
        if "gelu" not in self.only:
            return gelu_float(x)
        f = self.ctx.gelu_frac(self.cfg, layer)
        if f not in self._gelu:
            from hw.pwl_int.model import evaluate
            spec = self.ctx.tables(self.cfg["gelu_entries"]).gelu(f, self.cfg["gelu_fmt"])
            self._gelu[f] = (evaluate(spec, spec.input.codes()), spec)
        lut, spec = self._gelu[f]
        q = spec.input.quantize(x)
        return spec.output.to_real(lut[q - spec.input.min_code]).astype(np.float32)

    def softmax(self, s, layer):
        import numpy as np

        from eval.minilm.model import softmax_float
        if "softmax" not in self.only:
            return softmax_float(s)
        # the model of the unit the area counts: its row store picks the arithmetic (none, sram: base 2)
        sm = self.ctx.tables(self.cfg["sm_entries"]).softmax(self.ctx.sm_frac(self.cfg, layer), ROW_MAX,
                                                             self.ctx.row_store)
        q = sm.input.quantize(s).reshape(-1, s.shape[-1])
        p, _ = sm.rows(q)
        return sm.out.to_real(p).reshape(s.shape[:-1] + (p.shape[-1],)).astype(np.float32)

    def layernorm(self, x, gamma, beta, eps, site):
        import numpy as np

        from eval.minilm.model import layernorm_float
        if "layernorm" not in self.only:
            return layernorm_float(x, gamma, beta, eps)
        if site not in self._ln:
            from flow.build import rowwise_model
            c = self.ctx.ln_config(self.cfg, site, gamma, beta)
            self._ln[site] = rowwise_model(c, self.ctx.units_root, True)[0]
        from hw.layernorm.batch import rows
        ln = self._ln[site]
        return ln.out.to_real(rows(ln, ln.input.quantize(x))).astype(np.float32)


# -- area ---------------------------------------------------------------------------------

KEEP = ("area_um2", "nand2_eq", "cells", "flip_flops", "seq_area_um2", "delay_ns", "fmax_mhz", "power_mw")


def measure_unit(unit: Path, synth_cfg: dict) -> tuple[dict, bool]:
    """The unit's synthesis figures from ``make dse``'s cache or measured
    (and cached there, :func:`flow.synthcache.measure_cached`, keyed by the unit's
    Verilog, tables and the synthesis settings): (figures, True if cached)."""
    from flow.synthcache import measure_cached
    row, cached = measure_cached(unit, synth_cfg, Path(synth_cfg["results"]) / f"{unit.name}.json")
    return {k: row.get(k) for k in KEEP}, cached


# -- the run ------------------------------------------------------------------------------

def metrics(ref, emb) -> dict:
    from eval.minilm.run import metrics as m
    return m(ref, emb)


class Runner:
    """Evaluations (cached in ``<out>/evals/``) and unit areas of one run."""

    def __init__(self, ctx: Context, sents: list[str], full: list[str], synth_cfg: dict, out: Path, log=print):
        self.ctx, self.sents, self.full, self.synth_cfg, self.out, self.log = ctx, sents, full, synth_cfg, out, log
        self._ref: dict = {}
        self.unit_rows: dict = {}
        self.t0 = time.monotonic()

    def ref(self, sents):
        k = len(sents)
        if k not in self._ref:
            self._ref[k] = self.ctx.model.embed(sents)
        return self._ref[k]

    def _slot(self, cfg, sents, only) -> Path:
        h = hashlib.sha256(json.dumps([key_of(cfg), sorted(only), hashlib.sha256("\n".join(sents).encode()).hexdigest(),
                                       self.ctx.cal, self.ctx.seed]).encode()).hexdigest()[:20]
        return self.out / "evals" / f"{h}.json"

    def evaluate(self, cfg: dict, sents=None, only=("gelu", "softmax", "layernorm")) -> dict:
        sents = self.sents if sents is None else sents
        slot = self._slot(cfg, sents, only)
        try:
            return json.loads(slot.read_text())["metrics"]
        except (OSError, ValueError, KeyError):
            pass
        emb = self.ctx.model.embed(sents, ChoiceOps(self.ctx, cfg, only))
        m = metrics(self.ref(sents), emb)
        from hw.files import write_atomic
        write_atomic(slot, json.dumps({"config": cfg, "only": sorted(only), "sentences": len(sents),
                                       "metrics": m}) + "\n")
        return m

    def unit_area(self, u: dict) -> dict:
        from flow.build import build
        cfg = u["config"]
        if cfg.name not in self.unit_rows:
            t = time.monotonic()
            d = build(cfg, self.ctx.units_root)
            fig, cached = measure_unit(d, self.synth_cfg)
            man = json.loads((d / "manifest.json").read_text())
            make = cfg.make_line(params_as=str(cfg.params)) if getattr(cfg, "params", None) else cfg.make_line()
            row = {"unit": cfg.name, "op": u["op"], "kind": cfg.kind, **fig, "make": make,
                   "dir": str(d), "note": u["note"]}
            if getattr(cfg, "row_store", None) is not None:
                row["row_store"] = cfg.row_store
                s = man.get("sram")
                if cfg.row_store == "sram" and s:
                    row["sram"] = {"words": s.get("words"), "bits": s.get("bits")}
                row["cycles_per_row"] = man.get("timing", {}).get("cycles_per_row")
            self.unit_rows[cfg.name] = row
            self.log(f"  unit {cfg.name}: {fig['area_um2']:,.0f} um2, {fig['flip_flops']} FFs, "
                     f"fmax {fig['fmax_mhz']} MHz {'(cached)' if cached else f'(synthesized, {time.monotonic() - t:.0f} s)'}")
        return self.unit_rows[cfg.name]

    def area(self, cfg: dict) -> float:
        return sum(self.unit_area(u)["area_um2"] * u["count"] for u in self.ctx.units(cfg))

    def units_of(self, cfg: dict) -> list[dict]:
        return [{**self.unit_area(u), "count": u["count"]} for u in self.ctx.units(cfg)]


def knob_values(cal: dict) -> tuple:
    """:data:`KNOBS`, with sm_frac's offsets from the calibrated smallest F kept
    only where F stays in the unit's range (0..7)."""
    fr = [v["frac"] for k, v in cal.items() if k.startswith("softmax.")]
    lo = min(fr) if fr else 0
    out = []
    for name, vals in KNOBS:
        if name == "sm_frac":
            vals = tuple(v for v in vals if v == "layer" or 0 <= lo + int(v[1:]) <= 7)
        out.append((name, vals))
    return tuple(out)


def _cycles(ab) -> str:
    """``[a, b]`` -> ``a*n + b`` as the manifest's timing means it."""
    if not ab:
        return "-"
    a, b = ab
    return f"{a}n + {b}" if b else f"{a}n"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _cfg_cell(cfg: dict, ctx: Context | None = None) -> str:
    d = describe(cfg)
    if ctx is not None and cfg["sm_frac"] != "layer":
        d = d.replace(f"F {cfg['sm_frac']}", f"F {ctx.sm_frac(cfg, 0)}")
    return d


def markdown(res: dict) -> str:
    m = res["meta"]
    L = ["# Which hardware for the model: `make dse-model`", "",
         f"Command: `{m['command']}`. Model {m['model']}: {m['sentences']} evaluation sentences "
         f"(search on the first {m['search_sentences']}), calibration on {m['calib']} further sentences; "
         f"fitter seed {m['seed']}; row store `{m['row_store']}`; synthesis {m['liberty_name']}, "
         f"{m['period_ns']:g} ns; {m['seconds']:.0f} s wall.", "",
         "## Recommendation", ""]
    r = res["recommended"]
    t = m["target"]
    if r is None:
        L.append("No configuration was confirmed.")
    else:
        what = ("the smallest confirmed configuration meeting" if r["meets"] else
                "**no confirmed configuration meets** the target; the closest (least normalized shortfall) to")
        L += [f"{what} cosine >= {t['cos']} and top-1 >= {_pct(t['top1'])} on the {m['sentences']} sentences:", "",
              f"- {r['label']}: **{r['area_um2']:,.0f} um2**, cosine {r['cos_mean']:.5f} (min {r['cos_min']:.4f}), "
              f"top-1 {_pct(r['top1'])}", "", "| op | unit | count | area um2 | FFs | fmax MHz | make line |",
              "|---|---|---:|---:|---:|---:|---|"]
        for u in r["units"]:
            L.append(f"| {u['op']} | {u['unit']} | {u['count']} | {u['area_um2']:,.0f} | {u['flip_flops']} | "
                     f"{u['fmax_mhz']} | `{u['make']}` |")
        L += [""] + [f"- {u['unit']}: {u['note']}" + (f"; SRAM macro {u['sram']['words']} words x "
                                                        f"{u['sram']['bits']} bits, not in the area" if u.get("sram")
                                                        else "") for u in r["units"]]
    if res.get("attribution"):
        L += ["", "## Which op limits (recommended configuration, one op on its unit, the others FP32)", "",
              "| op on its unit | cosine | top-1 |", "|---|---:|---:|"]
        L += [f"| {a['op']} | {a['cos_mean']:.5f} | {_pct(a['top1'])} |" for a in res["attribution"]]
    L += ["", f"## Confirmed on all {m['sentences']} sentences", "",
          "| configuration | role | area um2 | cosine | cos min | top-1 | meets |", "|---|---|---:|---:|---:|---:|---|"]
    for p in res["confirmed"]:
        L.append(f"| {p['label']} | {', '.join(p['roles'])} | {p['area_um2']:,.0f} | {p['cos_mean']:.5f} | "
                 f"{p['cos_min']:.4f} | {_pct(p['top1'])} | {'yes' if p['meets'] else 'no'} |")
    s = res["search"]
    L += ["", f"## Search ({s['evaluations']} configurations on {m['search_sentences']} sentences, {s['passes']} "
          "pass(es))", "",
          f"Target during the search: cosine >= {s['effective_target']['cos']:.5f}, top-1 >= "
          f"{_pct(s['effective_target']['top1'])} (the user's, lowered to the start's where it does not reach it).",
          "", "| step | tried | area um2 | cosine | top-1 | Pareto |", "|---:|---|---:|---:|---:|---|"]
    front = {key_of(p["config"]) for p in s["pareto"]}
    for p in s["trace"]:
        L.append(f"| {p['step']} | {p['why']} | {p['area_um2']:,.0f} | {p['cos_mean']:.5f} | {_pct(p['top1'])} | "
                 f"{'yes' if key_of(p['config']) in front else ''} |")
    L += ["", f"Result: {describe(s['result'])}.", "", "## Units (synthesized once each)", "",
          "| unit | op | area um2 | FFs | fmax MHz | row store | clocks per row |", "|---|---|---:|---:|---:|---|---|"]
    for u in res["units"].values():
        L.append(f"| {u['unit']} | {u['op']} | {u['area_um2']:,.0f} | {u['flip_flops']} | {u['fmax_mhz']} | "
                 f"{u.get('row_store', '-')}{' (SRAM %s x %s outside)' % (u['sram']['words'], u['sram']['bits']) if u.get('sram') else ''} | "
                 f"{_cycles(u.get('cycles_per_row'))} |")
    L += ["", "## Accounting", "", m["accounting"], ""]
    return "\n".join(L)


def pareto_png(res: dict) -> bytes:
    from hw.files import png_bytes, pyplot
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    t = res["meta"]["target"]
    sub = res["search"]["trace"]
    conf = res["confirmed"]
    def y(p, k):                        # cosine as its distance from 1, on a log axis (lower is better)
        return max(1 - p[k], 1e-6) if k == "cos_mean" else p[k]

    for ax, k, lab, tv in ((axes[0], "cos_mean", "1 - cosine (mean; lower is better)", 1 - t["cos"]),
                           (axes[1], "top1", "top-1 agreement", t["top1"])):
        ax.scatter([p["area_um2"] for p in sub], [y(p, k) for p in sub], s=14, c="0.7",
                   label=f"search ({res['meta']['search_sentences']} sentences)")
        front = pareto(conf)
        ax.step([p["area_um2"] for p in front], [y(p, k) for p in front], where="post", c="C0", lw=1)
        for p in conf:
            mk = "*" if "recommended" in p["roles"] else "o"
            ax.scatter(p["area_um2"], y(p, k), s=120 if mk == "*" else 40, marker=mk,
                       c="C3" if mk == "*" else "C0", zorder=3)
            named = [r for r in p["roles"] if r in ("wide", "paper INT8", "recommended", "search result")]
            if named:
                ax.annotate(", ".join(named), (p["area_um2"], y(p, k)), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
        ax.axhline(tv, ls="--", c="grey", lw=0.8)
        if k == "cos_mean":
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("total non-linear area (um2)")
        ax.set_ylabel(lab)
        ax.set_title(f"confirmed on {res['meta']['sentences']} sentences (blue); their front as steps", fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    return png_bytes(fig, dpi=110)


ACCOUNTING = (
    "Total non-linear area = the sum of the areas of the units one configuration needs, each unit "
    "generated by `make gen` (its line above) and synthesized once by the project's flow (Yosys + "
    "OpenSTA, {lib}, {period:g} ns, activity 0.5; the `make dse` cache, `<build>/dse/results/`). One unit "
    "per op kind, one lane each: GELU one unit (`gelu_scale=layer`: `LUT=regs`, each layer's table "
    "reloaded through `cfg_*`; `common`: `LUT=rom` at the scale of the largest input); LayerNorm one "
    "affine unit for the 13 sites (384 x gamma/beta registers inside it, rewritten per site through "
    "`cfg_*`; each site's input at its own calibrated power-of-two scale, which does not change the "
    "unit's Verilog at eps 1e-12; one output format for all sites); softmax one unit per distinct score "
    "format (`sm_frac=layer`: one per calibrated scale, each counted; otherwise one). Row-wise units with "
    "ROW_STORE={store}: {store_text} Not counted: the matrix units, the requantization between units, "
    "the reload traffic's time, and the SRAM the caller reads rows from.")
STORE_TEXT = {"none": "no row store; the caller streams each row twice (softmax's two-pass unit computes in base 2, "
                      "hw/softmax/online.py: the accuracy is that arithmetic's).",
              "sram": "the row kept in the chip's single-port SRAM macro, which is outside the area (its words "
                      "x bits in the unit table)."}


def run(a, log=print) -> dict:
    from eval.minilm import corpus
    from eval.minilm.model import MiniLM, blas_single_thread
    from eval.minilm.replace import calibrate
    t0 = time.monotonic()
    blas_single_thread()
    model = MiniLM()
    if a.layers is not None:
        model.layers = model.layers[:a.layers]
    texts = corpus.sentences(a.sentences + a.calib)
    if len(texts) < a.sentences + a.calib:
        raise RuntimeError(f"the corpus gave only {len(texts)} sentences")
    full, calib = texts[:a.sentences], texts[a.sentences:]
    sub = full[:a.search_sentences]
    log(f"dse-model: {a.model}, calibrating on {len(calib)} sentences")
    cal = calibrate(model, calib)
    ctx = Context(model, cal, a.build, a.seed, a.row_store)
    from synth import DEFAULT_LIBERTY
    lib = str(Path(a.liberty or DEFAULT_LIBERTY).resolve())
    dse_out = Path(a.build) / "dse"
    synth_cfg = {"out": str(dse_out / "synth"), "results": str(dse_out / "results"), "liberty": lib,
                 "period_ns": a.period_ns, "activity": 0.5, "abc": "gqa"}
    R = Runner(ctx, sub, full, synth_cfg, a.out, log)
    knobs = knob_values(cal)
    planned = 1 + a.passes * sum(len(v) - 1 for _, v in knobs)
    target = Target(a.min_cos, a.min_top1)

    def progress(p):
        el = time.monotonic() - t0
        n = p["step"]
        log(f"[{n}/~{planned}] {p['why']}: area {p['area_um2']:>12,.0f} um2  cos {p['cos_mean']:.5f}  "
            f"top-1 {_pct(p['top1'])}  ({el:.0f} s, ~{el / n * max(planned - n, 0):.0f} s left for the search)")

    def ev(cfg):
        return R.evaluate(cfg)

    log(f"search: {len(knobs)} knobs, at most {planned} configurations on {len(sub)} sentences, "
        f"target cos >= {target.cos}, top-1 >= {_pct(target.top1)}; start: {describe(WIDE)}")
    res = search(dict(WIDE), knobs, ev, R.area, target, a.passes, log=progress)
    front = pareto(res.trace)
    # confirmation on every sentence
    roles: dict = {}

    def add(cfg, role):
        roles.setdefault(key_of(cfg), (cfg, []))[1].append(role)
    add(WIDE, "wide")
    add(PAPER, "paper INT8")
    add(res.best, "search result")
    # the smooth metric first: on the search subset top-1 moves by whole sentences between near-equal configurations
    cap = sorted(front, key=lambda p: (-p["cos_mean"], -p["top1"], p["area_um2"], key_of(p["config"])))[:a.confirm]
    for p in cap:
        add(p["config"], "subset Pareto")
    confirmed = []
    log(f"confirming {len(roles)} configurations on {len(full)} sentences")
    for i, (k, (cfg, rl)) in enumerate(roles.items(), 1):
        m = R.evaluate(cfg, full)
        p = {"config": cfg, "label": _cfg_cell(cfg, ctx), "roles": rl, "area_um2": R.area(cfg), **m}
        p["meets"] = target.meets(p)
        confirmed.append(p)
        log(f"  [{i}/{len(roles)}] {', '.join(rl)}: area {p['area_um2']:,.0f} um2  cos {m['cos_mean']:.5f}  "
            f"top-1 {_pct(m['top1'])}")
    rec, meets = recommend(confirmed, target)
    attribution = []
    if rec is not None and not a.no_attribution:
        for op in ("gelu", "softmax", "layernorm"):
            m = R.evaluate(rec["config"], full, only=(op,))
            attribution.append({"op": op, **m})
            log(f"  attribution: {op} alone on its unit: cos {m['cos_mean']:.5f}  top-1 {_pct(m['top1'])}")
    meta = {"command": a.command, "model": "all-MiniLM-L6-v2" + (f" (first {a.layers} layers)" if a.layers else ""),
            "sentences": len(full), "search_sentences": len(sub), "calib": len(calib), "seed": a.seed,
            "row_store": a.row_store, "liberty": lib, "liberty_name": Path(lib).stem, "period_ns": a.period_ns,
            "passes": a.passes, "sm_frac_offsets_from": min(ctx.fracs("softmax").values()),
            "seconds": round(time.monotonic() - t0, 1)}
    return assemble(meta, target, knobs, res, confirmed, rec, meets,
                    R.units_of(rec["config"]) if rec is not None else [], attribution, R.unit_rows, cal)


def assemble(meta: dict, target: Target, knobs, res: SearchResult, confirmed: list, rec: dict | None, meets: bool,
             rec_units: list, attribution: list, unit_rows: dict, cal: dict) -> dict:
    """The report's JSON document (schema: :data:`REPORT_KEYS`)."""
    recommended = None
    if rec is not None:
        if "recommended" not in rec["roles"]:
            rec["roles"].append("recommended")
        recommended = {"config": rec["config"], "label": rec["label"], "area_um2": rec["area_um2"],
                       "cos_mean": rec["cos_mean"], "cos_min": rec["cos_min"], "top1": rec["top1"], "meets": meets,
                       "units": rec_units}
    meta = {**meta, "target": {"cos": target.cos, "top1": target.top1}, "knobs": [[n, list(v)] for n, v in knobs],
            "accounting": ACCOUNTING.format(lib=meta["liberty_name"], period=meta["period_ns"],
                                            store=meta["row_store"], store_text=STORE_TEXT[meta["row_store"]])}
    return {"meta": meta, "calibration": cal, "recommended": recommended, "attribution": attribution,
            "confirmed": confirmed,
            "search": {"start": res.trace[0]["config"] if res.trace else None, "result": res.best,
                       "passes": res.passes, "evaluations": len(res.trace),
                       "effective_target": {"cos": res.target.cos, "top1": res.target.top1},
                       "trace": res.trace, "pareto": pareto(res.trace)},
            "units": unit_rows}


#: the report's top-level keys, and those of its parts
REPORT_KEYS = {
    "": ("meta", "calibration", "recommended", "attribution", "confirmed", "search", "units"),
    "meta": ("command", "model", "sentences", "search_sentences", "calib", "seed", "row_store", "liberty",
             "period_ns", "passes", "target", "knobs", "accounting", "seconds"),
    "recommended": ("config", "label", "area_um2", "cos_mean", "cos_min", "top1", "meets", "units"),
    "confirmed[]": ("config", "label", "roles", "area_um2", "cos_mean", "cos_min", "top1", "meets"),
    "search": ("start", "result", "passes", "evaluations", "effective_target", "trace", "pareto"),
    "units{}": ("unit", "op", "kind", "area_um2", "flip_flops", "fmax_mhz", "make", "note"),
}


def _float01(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return v


def _pos_int(lo: int, hi: int):
    def f(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is not in {lo}..{hi}")
        return v
    return f


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="gqa-lut dse-model", description=__doc__.split("\n\n")[0],
                 epilog="make dse-model [MODEL=minilm] [ROW_STORE=none|sram] [DSEMODELARGS='--passes 2']. "
                        "The search and the accounting: eval/dse_model.py's docstring and DESIGN.md "
                        "'Choosing units for a model'.",
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm", help="the model (MODEL=; only minilm: all-MiniLM-L6-v2)")
    ap.add_argument("--sentences", type=_pos_int(2, 2000), default=300,
                    help="evaluation sentences, the confirmation set (default 300)")
    ap.add_argument("--search-sentences", type=_pos_int(2, 2000), default=100,
                    help="the first N of them evaluate every search step (default 100)")
    ap.add_argument("--calib", type=_pos_int(1, 1000), default=32,
                    help="calibration sentences, disjoint from the evaluation ones (default 32)")
    ap.add_argument("--passes", type=_pos_int(1, 5), default=1,
                    help="passes of the coordinate-wise search over the knobs (default 1; it stops early when a "
                         "pass changes nothing)")
    ap.add_argument("--min-cos", type=_float01, default=0.999, help="target mean cosine (default 0.999)")
    ap.add_argument("--min-top1", type=_float01, default=0.99, help="target top-1 agreement (default 0.99)")
    ap.add_argument("--confirm", type=_pos_int(0, 50), default=8,
                    help="at most N of the search subset's Pareto points are confirmed on every sentence, the highest "
                         "cosine first (default 8), besides the start, the paper's INT8 setting and the result")
    ap.add_argument("--row-store", default="none",
                    help="row store of the softmax and LayerNorm units: none (the caller streams each row per pass) "
                         "or sram (the row in the chip's SRAM macro, not in the area) (ROW_STORE=; default none)")
    ap.add_argument("--seed", type=_pos_int(0, 2**31 - 1), default=0, help="fitter seed of every table (default 0)")
    ap.add_argument("--layers", type=_pos_int(1, 6), default=None, help="only the first N encoder layers (a quick "
                    "check; default all 6)")
    ap.add_argument("--no-attribution", action="store_true",
                    help="skip the one-op-at-a-time rows of the recommended configuration")
    ap.add_argument("--build", type=Path, default=Path("build"), help="build root (default build)")
    ap.add_argument("--out", type=Path, default=None, help="report directory (default <build>/dse-model)")
    ap.add_argument("--liberty", default=None, help="liberty file (default: the OSU 0.18 um cells)")
    ap.add_argument("--period-ns", type=float, default=10.0,
                    help="synthesis clock period (default 10, make dse's: their cache is shared)")
    return ap


def check(a) -> None:
    """Every option, before any work; a ValueError names the bad one."""
    if a.model not in MODELS:
        raise ValueError(f"--model '{a.model}': unknown model; known: {', '.join(MODELS)}")
    if a.row_store not in ROW_STORES:
        raise ValueError(f"--row-store '{a.row_store}': use none or sram (ff buffers of 384 x 16-bit rows are "
                         "12,288 flip-flops; see README 'Which row-wise unit should I use?')")
    if a.search_sentences > a.sentences:
        raise ValueError(f"--search-sentences {a.search_sentences} is more than --sentences {a.sentences}")
    if not (math.isfinite(a.period_ns) and a.period_ns > 0):
        raise ValueError(f"--period-ns {a.period_ns:g} must be a positive number")
    from synth.liberty import check_liberty
    check_liberty(a.liberty)
    from eval.minilm.model import model_dir
    model_dir()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = parser().parse_args(argv)
    except SystemExit as e:             # --help (0) or a bad option (2, its error: line printed)
        return int(e.code or 0)
    a.out = a.out or a.build / "dse-model"
    a.command = "gqa-lut dse-model" + ("" if not argv else " " + " ".join(argv))
    try:
        check(a)
    except Exception as e:              # noqa: BLE001 - ValueError, SynthError, ModelMissing: one line each
        from flow.config import one_line
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 2
    res = run(a)
    from hw.files import write_atomic
    a.out.mkdir(parents=True, exist_ok=True)
    write_atomic(a.out / "report.json", json.dumps(res, indent=1, default=str) + "\n")
    md = markdown(res)
    write_atomic(a.out / "report.md", md)
    write_atomic(a.out / "pareto.png", pareto_png(res))
    print()
    print(md.split("\n## Search")[0])
    print(f"wrote {a.out / 'report.md'}, report.json and pareto.png ({res['meta']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
