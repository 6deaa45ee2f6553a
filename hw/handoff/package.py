"""Write the handoff package of a built unit: ``<unit dir>/handoff/``.

Reads only the unit directory (Verilog, manifest.json, spec files, fit.png)
and the golden models of ``hw``; never the fitter. Every file is written
atomically and only when its content changes, and nothing in the files
depends on time or on the machine (no timestamps, no absolute paths), so
regenerating from the same unit gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from hw import impls
from hw.files import write_atomic
from hw.handoff import datasheet, fusesoc, inputs, rtl, tb, vectors
from hw.handoff.inputs import HandoffError
from hw.pwl_int.vectors import EXHAUSTIVE_MAX_BITS
from hw.spec import Spec
from synth import DEFAULT_PERIOD_NS
from synth.script import PACKAGE_OUT, package_script
from synth.sdc import IO_FRACTION, unit_sdc

PACKAGE_FORMAT = "gqa-lut-handoff"
PACKAGE_VERSION = 1
#: run_tb.sh's temporary build directory (removed on exit), so a run leaves the package as shipped
SCRATCH = 'scratch=$(mktemp -d "${TMPDIR:-/tmp}/gqa_tb.XXXXXX")'
N_ALT_MAX = 4096        # vectors checked against the second table of a LUT=regs unit

#: Verilator -Wall warnings waived on the generated RTL, each with its reason.
WAIVERS = {
    "WIDTH": "Yosys' Verilog backend (used by Amaranth) writes constants at their minimal width "
             "(e.g. cfg_addr == 2'h2) and relies on Verilog's context-determined widening; every width "
             "is exact in the netlist, and the golden-model vectors check the arithmetic bit for bit",
    "UNUSEDSIGNAL": "Amaranth keeps full-width intermediate nets of which only some bits are read (e.g. the "
                    "accumulator bits below the rounding point, the unused high bits of cfg_data for narrow "
                    "fields); synthesis removes them",
    "CASEINCOMPLETE": "Amaranth writes a default assignment before each case statement (e.g. in_ready = 0; "
                      "case (phase_state) 0: in_ready = 1; endcase), so an uncovered case value keeps the "
                      "default: no latch (Yosys check confirms), no missing logic",
    "UNSIGNED": "comparisons that are constant for a given table (e.g. an unsigned magnitude >= 0 in the "
                "binary32 comparator when a breakpoint is zero) are emitted as written; synthesis folds them",
    "DECLFILENAME": "the unit's submodules share the unit's single RTL file on purpose (one file per unit, "
                    "every module prefixed with the top module's name)",
}


def generator_version() -> str:
    """``git describe`` of the generator's source tree, or 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        r = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--tags"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    out = r.stdout.strip()
    return out if r.returncode == 0 and out else "unknown"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ports(man: dict) -> dict:
    return {p["name"]: p["width"] for p in man["ports"]}


def _field_comments(spec) -> list[str]:
    """One comment per word of the image (hw.impls.image), in address order."""
    return impls.regmap(spec).word_comments(spec)


def _c_header(top: str, spec, cfg: dict) -> str:
    img = impls.image(spec)
    com = _field_comments(spec)
    up = top.upper()
    dig = (cfg["data_bits"] + 3) // 4
    L = [f"/* {top}: table programming image for the LUT=regs unit (GQA-LUT handoff).",
         " * Write each {address, word} pair with cfg_we=1, cfg_addr=address, cfg_data=word for one clock.",
         f" * Map: {cfg['map']}; a field narrower than cfg_data",
         " * takes the low bits of the word. */",
         f"#ifndef {up}_LUT_H", f"#define {up}_LUT_H", "", "#include <stdint.h>", "",
         f"#define {up}_LUT_WORDS {len(img)}u",
         f"#define {up}_CFG_ADDR_BITS {cfg['addr_bits']}u",
         f"#define {up}_CFG_DATA_BITS {cfg['data_bits']}u", "",
         f"static const uint32_t {top}_lut_image[{up}_LUT_WORDS][2] = {{"]
    for (a, w), c in zip(img, com):
        L.append(f"    {{{a}u, 0x{w:0{dig}x}u}},  /* {c} */")
    L += ["};", "", f"#endif /* {up}_LUT_H */", ""]
    return "\n".join(L)


def _synth_sh(top: str, ys: str, period_ns: float) -> str:
    """The wrapper that fills the package's Yosys script with the user's
    liberty (and delay target) and runs it."""
    o = PACKAGE_OUT
    ps = int(round(period_ns * 1000))
    return "\n".join([
        "#!/bin/sh",
        f"# Synthesize {top} onto your standard cells with Yosys:",
        "#   LIBERTY=/path/to/cells.lib sh synth.sh",
        f"# Optional: PERIOD_PS=<ps> (ABC's delay target, default {ps} = the SDC's clock period), YOSYS=<command>.",
        f"# Fills @LIBERTY@ and @PERIOD_PS@ of {ys} (the generator's flow script for this unit),",
        f"# runs it in this directory and writes {o}/: {top}.ys (the script as run), {top}_yosys.log,",
        f"# {top}_netlist.v (mapped netlist), {top}_stat.txt / {top}_stat.json (area, cells).",
        "# Exit status non-zero if Yosys fails (its checks include: no latches, fully mapped).",
        "set -e",
        'case "${LIBERTY:-}" in',
        '  "") echo "usage: LIBERTY=/path/to/cells.lib sh synth.sh" >&2; exit 2 ;;',
        '  /*) ;;',
        '  *) LIBERTY="$(pwd)/$LIBERTY" ;;',
        "esac",
        'cd "$(dirname "$0")"',
        'if [ ! -f "$LIBERTY" ]; then echo "synth.sh: liberty $LIBERTY not found" >&2; exit 2; fi',
        'case "$LIBERTY" in *" "*) echo "synth.sh: Yosys cannot take a liberty path with spaces" >&2; exit 2 ;; esac',
        f'PERIOD_PS="${{PERIOD_PS:-{ps}}}"',
        'case "$PERIOD_PS" in ""|*[!0-9]*) echo "synth.sh: PERIOD_PS must be a whole number of ps" >&2; exit 2 ;; esac',
        f"mkdir -p {o}",
        r"""lib=$(printf '%s' "$LIBERTY" | sed 's/[&|\\]/\\&/g')""",    # escaped for sed's replacement
        f'sed -e "s|@LIBERTY@|$lib|g" -e "s|@PERIOD_PS@|$PERIOD_PS|g" {ys} > {o}/{top}.ys',
        f'"${{YOSYS:-yosys}}" -q -l {o}/{top}_yosys.log -s {o}/{top}.ys',
        f'grep -i "chip area" {o}/{top}_stat.txt || true',
        f'echo "netlist: {o}/{top}_netlist.v  (timing: read it with synth/{top}.sdc in your STA)"',
        ""])


def _core_description(man: dict) -> str:
    parts = [f"GQA-LUT {man['op']} unit"]
    if man.get("format"):
        parts.append(str(man["format"]).upper())
    if man.get("entries"):
        parts.append(f"{man['entries']} entries")
    if man.get("stages") is not None:
        parts.append(f"STAGES={man['stages']}")
    if man.get("lut"):
        parts.append(f"LUT={man['lut']}")
    return ", ".join(parts) + " (RTL handoff package)"


def _synth_row(unit_dir: Path):
    rep = unit_dir.parent / "synth" / "report.json"
    try:
        doc = json.loads(rep.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    for r in doc.get("rows", []):
        if r.get("status") == "ok" and r.get("unit") == unit_dir.name:
            keep = ("area_um2", "nand2_eq", "cells", "flip_flops", "delay_ns", "fmax_mhz", "critical_path",
                    "power_mw")
            meta = {k: doc.get(k) for k in ("liberty", "yosys", "sta", "period_ns", "activity")}
            return {k: r.get(k) for k in keep}, meta
    return None


def _regen(man: dict, unit_dir: Path) -> tuple[str, dict[str, bytes]]:
    """The unit's regenerate line (written by its configuration into the
    manifest) and the input files it names, which travel in the package."""
    line = man.get("regenerate")
    if not line:
        raise HandoffError(f"{unit_dir}: manifest.json has no 'regenerate' line (rebuild the unit: make gen)")
    req = man.get("request", {})
    inputs = {}
    for key in ("spec", "params"):
        name = req.get(key)
        if name:
            try:
                inputs[name] = (unit_dir / name).read_bytes()
            except OSError:
                raise HandoffError(f"{unit_dir}: {name}, named by the unit's request, is missing") from None
    return line, inputs


def _sram(man: dict, ports: dict) -> dict | None:
    """What the bench's SRAM model needs (``ROW_STORE=sram`` units), else None."""
    if "sram" not in man:
        return None
    return {"words": man["sram"]["words"], "addr": ports["sram_addr"], "bits": ports["sram_wdata"]}


def build(unit_dir, out=None) -> Path:
    """Write the package of ``unit_dir`` into ``out`` (default
    ``unit_dir/handoff``); returns the package directory."""
    unit_dir = Path(unit_dir)
    out = Path(out) if out is not None else unit_dir / "handoff"
    # before anything is read or written: where it goes, what the manifest is, RTL and tables unchanged
    inputs.check_out(unit_dir, out)
    man = inputs.read_manifest(unit_dir)
    inputs.check_sources(unit_dir, man)
    top = man["top"]
    if len(man["verilog"]) != 1:
        raise HandoffError(f"{unit_dir}: expected one Verilog file, manifest lists {man['verilog']}")
    text, renames = rtl.prepare((unit_dir / man["verilog"][0]).read_text(), top)
    files: dict[str, str | bytes] = {}
    doc: list[tuple[str, str]] = []
    P = {"rtl": f"rtl/{top}.v", "tb": f"tb/tb_{top}.v", "waivers": f"lint/{top}.vlt",
         "ys": f"lint/{top}_check.ys", "prog_hex": f"prog/{top}_lut.hex", "prog_h": f"prog/{top}_lut.h"}

    files[P["rtl"]] = rtl.header(top, man, renames) + text
    doc.append((P["rtl"], "the unit, synthesizable Verilog, all modules in one file"))
    files["filelist.f"] = P["rtl"] + "\n"
    doc.append(("filelist.f", "RTL file list (paths relative to this directory)"))

    cmds = {
        "icarus": [f"iverilog -g2005 -o tb_{top}.vvp -f filelist.f {P['tb']}", f"vvp -n tb_{top}.vvp"],
        # the waiver file first: Verilator 5.006 applies a .vlt only to files read after it
        "verilator": [f"verilator --binary -j 0 -CFLAGS -std=c++20 {P['waivers']} -f filelist.f {P['tb']} "
                      f"--top-module tb_{top} -Mdir obj_{top}", f"./obj_{top}/Vtb_{top}"],
        "lint": f"verilator --lint-only -Wall {P['waivers']} -f filelist.f --top-module {top}",
    }
    tb.RUN_COMMANDS = {k: " && ".join(v) for k, v in cmds.items() if k != "lint"}
    tb.RUN_COMMANDS["fusesoc"] = fusesoc.run_command(top, PACKAGE_VERSION, "sim")
    ports = _ports(man)
    rowwise = man.get("stages") is None
    specs: dict[str, Spec] = {}
    spec = None
    if rowwise:
        from hw.rowwise import lanes, model_from_dir, passes
        md = model_from_dir(unit_dir)
        specs = {name: Spec.load(unit_dir / f) for name, f in man["specs"].items()}
        v = vectors.rowwise(md, passes(man), lanes(man))
        iw, ow = ports["in_data"], ports["out_data"]
        flag = v["flag"]
        if flag not in ports:
            raise HandoffError(f"{top} has no port {flag}")
        in_words = [(int(la) << iw) | (d & ((1 << iw) - 1)) for d, la in v["in"]]
        out_words = [(int(fl) << (ow + 1)) | (int(la) << ow) | (d & ((1 << ow) - 1)) for d, la, fl in v["out"]]
        files[f"tb/{top}.in.hex"] = vectors.hexwords(in_words, iw + 1)
        files[f"tb/{top}.out.hex"] = vectors.hexwords(out_words, ow + 2)
        doc += [(f"tb/{top}.in.hex", f"input stream, {len(in_words)} words {{in_last, in_data}} "
                 f"({len(v['rows'])} rows)"),
                (f"tb/{top}.out.hex", f"expected output stream, {len(out_words)} words "
                 f"{{{flag}, out_last, out_data}}")]
        n_vec = len(out_words)
        bound = 12 * (len(in_words) + len(out_words)) + 50 * len(v["rows"]) + 1000
        files[P["tb"]] = tb.rowwise(top, iw, ow, md.out.signed and lanes(man) == 1, flag, len(in_words),
                                    len(out_words), bound,
                                    {k: ports[k] for k in ("cfg_addr", "cfg_data") if "cfg_we" in ports},
                                    _sram(man, ports))
    else:
        spec = Spec.load(unit_dir / man.get("spec", "spec.json"))
        specs = {"spec": spec}
        ftz = bool(man.get("ftz"))
        x, y = vectors.elementwise(spec, ftz)
        lanes = int(man.get("lanes", 1))        # the vector files hold one lane's vectors (tb.elementwise)
        xw, yw = ports["x"] // lanes, ports["y"] // lanes
        files[f"tb/{top}.x.hex"] = vectors.hexwords(x, xw)
        files[f"tb/{top}.y.hex"] = vectors.hexwords(y, yw)
        kind = ("every input code" if not spec.is_fp32 and spec.input.bits <= EXHAUSTIVE_MAX_BITS
                else "special values, breakpoints and neighbours, seeded random")
        if lanes > 1:
            kind += f"; one lane's: the bench runs them on each of the {lanes} lanes, lane l rotated by l*n/{lanes}"
        doc += [(f"tb/{top}.x.hex", f"inputs, {len(x)} words ({kind})"),
                (f"tb/{top}.y.hex", "expected outputs (golden model)")]
        n_vec = len(x)
        cfg = None
        n_alt = 0
        tports = dict(ports)
        tports["_latency"] = man["stages"]
        tports["_lanes"] = lanes
        if man.get("lut") == "regs":
            c = man["cfg"]
            img = impls.image(spec)
            cfg = {"addr_bits": c["addr_bits"], "data_bits": c["data_bits"], "words": len(img),
                   "map": c["map"]}
            if [list(p) for p in img] != [list(p) for p in c["image"]]:
                raise HandoffError(f"{unit_dir}: manifest cfg.image differs from the spec's image")
            alt = vectors.alt_spec(spec)
            n_alt = min(len(x), N_ALT_MAX)
            y_alt = vectors.evaluate(alt, x[:n_alt], ftz)
            files[P["prog_hex"]] = (f"// {top}: programming image, word i at cfg_addr i\n"
                                    + vectors.hexwords([w for _, w in img], c["data_bits"],
                                                       _field_comments(spec)))
            files[P["prog_h"]] = _c_header(top, spec, cfg)
            files[f"tb/{top}.cfg_alt.hex"] = vectors.hexwords([w for _, w in impls.image(alt)], c["data_bits"])
            files[f"tb/{top}.y_alt.hex"] = vectors.hexwords(y_alt, yw)
            doc += [(P["prog_hex"], "table programming image ($readmemh), one word per address"),
                    (P["prog_h"], "the same image as a C header for firmware"),
                    (f"tb/{top}.cfg_alt.hex", "a second table ("
                     + impls.regmap(spec).COLUMNS + " reversed) loaded first by the bench"),
                    (f"tb/{top}.y_alt.hex", f"expected outputs of the first {n_alt} inputs with that table")]
            n_vec += n_alt
        n_vec *= lanes                           # the bench counts lane results
        signed_y = None if spec.is_fp32 else spec.output.signed
        files[P["tb"]] = tb.elementwise(top, tports, len(x), n_alt, signed_y, cfg)
    doc.insert(2, (P["tb"], "self-checking testbench, Verilog-2005"))

    # lint waivers and the Yosys check script
    vlt = ["`verilator_config", f"// Lint waivers (Verilator -Wall) for {P['rtl']}; each names the warning and its reason.",
           "// Only the generated RTL is waived; the testbench needs no waiver."]
    for rule, why in WAIVERS.items():
        vlt += [f"// {rule}: {why}.", f'lint_off -rule {rule} -file "*rtl/{top}.v"']
    files[P["waivers"]] = "\n".join(vlt) + "\n"
    files[P["ys"]] = "\n".join([
        f"# Yosys check of {top}: generic synthesis, then no warnings and no latches allowed.",
        f"# Run in the package directory: yosys -s {P['ys']}",
        f"read_verilog {P['rtl']}",
        f"hierarchy -check -top {top}",
        f"synth -flatten -top {top}",
        "check -assert",
        "select -assert-none t:$dlatch* t:$adlatch* t:$_DLATCH*",
        "stat", ""])
    doc += [(P["waivers"], "Verilator lint waivers (-Wall), each with its reason"),
            (P["ys"], "Yosys synth + check -assert script")]

    # FuseSoC core, timing constraints (the synthesis report reads the same SDC text), and the
    # flow's Yosys script for the chip team's own liberty
    syn_row = _synth_row(unit_dir)
    # a unit sold at a clock (CLOCK_MHZ=F, flow/clock.py) is constrained at its target period, 1000/F ns
    period_ns = float((1000.0 / man["clock_mhz"] if man.get("clock_mhz") else None)
                      or (syn_row[1].get("period_ns") if syn_row else None) or DEFAULT_PERIOD_NS)
    P.update({"core": fusesoc.core_name(top), "sdc": f"synth/{top}.sdc", "synth_ys": f"synth/{top}.ys",
              "synth_sh": "synth.sh"})
    vlnv = fusesoc.vlnv(top, PACKAGE_VERSION)
    data_files = sorted(k for k in files if k.endswith(".hex"))
    files[P["core"]] = fusesoc.core_file(top, PACKAGE_VERSION, _core_description(man), P["rtl"], P["tb"],
                                         P["waivers"], data_files)
    files[P["sdc"]] = unit_sdc({**man, "top": top}, period_ns)
    files[P["synth_ys"]] = package_script(top, [P["rtl"]])
    files[P["synth_sh"]] = _synth_sh(top, P["synth_ys"], period_ns)
    flow_cmds = {
        "fusesoc_sim": fusesoc.run_command(top, PACKAGE_VERSION, "sim"),
        "fusesoc_lint": fusesoc.run_command(top, PACKAGE_VERSION, "lint"),
        "synth": "LIBERTY=/path/to/cells.lib sh synth.sh",
    }
    flow_ctx = {"vlnv": vlnv, "period_ns": period_ns, "io_fraction": IO_FRACTION, "commands": flow_cmds,
                "clocked": "clk" in ports}
    doc += [(P["core"], f"FuseSoC CAPI2 core `{vlnv}`: targets `default` (RTL), `sim` (this bench on Icarus, "
                        "fails on a mismatch), `lint` (Verilator -Wall with the waivers)"),
            (P["sdc"], f"timing constraints (SDC): "
                       + ("`clk`" if "clk" in ports else "virtual clock and max delay")
                       + f" at {period_ns:g} ns, the period the area/timing figures were measured at; "
                       "input/output delays, slew, load"),
            (P["synth_sh"], "synthesis onto your liberty: `LIBERTY=/path/to/cells.lib sh synth.sh` "
                            f"(Yosys; writes `{PACKAGE_OUT}/`)"),
            (P["synth_ys"], "the generator's Yosys flow script for this unit, `@LIBERTY@`/`@PERIOD_PS@` left "
                            "to fill (synth.sh does)")]

    # the script builds in a scratch directory, so a run leaves the package (and its sha256s) as shipped
    def scratch(cmd: str) -> str:
        return (cmd.replace(f"tb_{top}.vvp", f'"$scratch/tb_{top}.vvp"').replace(f"./obj_{top}", f"obj_{top}")
                .replace(f"obj_{top}", f'"$scratch"/obj_{top}'))

    # what run_tb.sh runs, line for line (the datasheet shows these same lines)
    runs = {"icarus": [scratch(c) for c in cmds["icarus"]],
            "verilator": [scratch(cmds["verilator"][0]).replace(" -CFLAGS", " $VERILATOR_FLAGS -CFLAGS", 1),
                          scratch(cmds["verilator"][1])]}
    files["run_tb.sh"] = "\n".join([
        "#!/bin/sh",
        f"# Verify the {top} handoff package: sh run_tb.sh [icarus|verilator]",
        "# Runs in this script's directory and builds in a temporary directory (removed on exit), so the",
        "# package is left as shipped; exit status 0 on PASS, non-zero on any mismatch.",
        "# VERILATOR_FLAGS adds options to the Verilator build (e.g. VERILATOR_FLAGS='-CFLAGS -O0').",
        "set -e",
        'cd "$(dirname "$0")"',
        'case "${1:-icarus}" in',
        "  icarus|verilator) ;;",
        '  *) echo "usage: sh run_tb.sh [icarus|verilator]" >&2; exit 2 ;;',
        "esac",
        SCRATCH,
        "trap 'rm -rf \"$scratch\"' EXIT",
        'case "${1:-icarus}" in',
        f"  icarus) {' && '.join(runs['icarus'])} ;;",
        f"  verilator) {' && '.join(runs['verilator'])} ;;",
        "esac", ""])
    doc.insert(0, ("run_tb.sh", "runs the testbench: `sh run_tb.sh icarus` or `sh run_tb.sh verilator`"))

    wave, text_diag = datasheet._wavedrom(man)
    files["timing.json"] = wave + "\n"
    doc.append(("timing.json", "timing diagram, WaveDrom JSON"))
    plot = None
    if (unit_dir / "fit.png").is_file():
        plot = f"{top}_accuracy.png"
        files[plot] = (unit_dir / "fit.png").read_bytes()
        doc.append((plot, "accuracy plot: function, hardware output, error in output LSBs"))

    regen, regen_inputs = _regen(man, unit_dir)
    for name, data in regen_inputs.items():
        files.setdefault(name, data)
        doc.append((name, "input of the regenerate command (copy it beside the generator checkout's Makefile)"))
    version = generator_version()
    ctx = {"top": top, "manifest": man, "specs": specs, "files": P, "files_doc": doc + [
               ("DATASHEET.md", "this file"), ("manifest.json", "file list with sha256, versions")],
           "commands": cmds, "runs": runs, "scratch": SCRATCH, "n_vectors": n_vec, "timing": (wave, text_diag),
           "plot": plot,
           "synth": _synth_row(unit_dir), "regen": regen, "regen_inputs": sorted(regen_inputs),
           "version": version}
    ctx["integration"] = flow_ctx
    files["DATASHEET.md"] = datasheet.render(ctx)

    pkg = {
        "format": PACKAGE_FORMAT, "version": PACKAGE_VERSION,
        "top": top, "unit": unit_dir.name, "op": man["op"], "generator_version": version,
        "rtl": [P["rtl"]], "filelist": "filelist.f", "testbench": {"file": P["tb"], "top": f"tb_{top}",
                                                                    "vectors": n_vec},
        "modules": renames, "stages": man.get("stages"), "latency_cycles": man.get("latency_cycles"),
        "ports": man["ports"],
        **({k: man[k] for k in ("lanes", "lane_layout") if k in man}),     # LANES=P units only
        "formats": man.get("formats"), "reset": man.get("reset"),
        "commands": cmds, "regenerate": ctx["regen"],
        "tools": man.get("tools", {}),
        "files": {k: _sha256(v.encode() if isinstance(v, str) else v) for k, v in sorted(files.items())},
    }
    if "cfg" in man:
        pkg["cfg"] = {k: v for k, v in man["cfg"].items() if k != "image"} | {"image": P["prog_hex"],
                                                                                "header": P["prog_h"]}
    pkg["fusesoc"] = {"core": P["core"], "vlnv": vlnv, "targets": ["default", "sim", "lint"]}
    pkg["constraints"] = {"sdc": P["sdc"], "period_ns": period_ns, "io_fraction": IO_FRACTION}
    pkg["synthesis"] = {"script": P["synth_ys"], "wrapper": P["synth_sh"], "placeholders": ["LIBERTY", "PERIOD_PS"]}
    pkg["commands"] = {**pkg["commands"], **flow_cmds}
    files["manifest.json"] = json.dumps(pkg, indent=2) + "\n"
    for name, data in files.items():
        write_atomic(out / name, data)
    (out / "run_tb.sh").chmod(0o755)
    (out / P["synth_sh"]).chmod(0o755)
    return out
