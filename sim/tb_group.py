"""cocotb test of a group of integer element-wise units simulated together
(:mod:`sim.group`): each unit's bench (:func:`sim.tb_pwl_int.run_unit`),
one after another, in one simulator process, so the simulator and its
Python start once per group instead of once per unit.

``GQA_GROUP`` names a JSON list, one entry per unit: ``prefix`` (the
wrapper's signals of that unit are ``<prefix>_<port>``), ``env`` (the
variables its bench reads: ``GQA_UNIT_DIR``, ``GQA_SPEC2``) and
``summary`` (its own summary file, ``GQA_SUMMARY`` while it runs). A unit
whose bench fails or raises is recorded as failed in its summary and the
group goes on with the next unit.
"""

from __future__ import annotations

import json
import os
import time

import cocotb

from sim.runner import write_summary
from sim.tb_pwl_int import run_unit


class UnitPorts:
    """One unit's signals in the group wrapper, under the names its bench uses."""

    def __init__(self, dut, prefix: str):
        self._dut, self._prefix = dut, prefix
        self._log = dut._log

    def __getattr__(self, name):
        return getattr(self._dut, f"{self._prefix}_{name}")


@cocotb.test()
async def group(dut):
    failed = []
    for unit in json.loads(open(os.environ["GQA_GROUP"]).read()):
        os.environ.update(unit["env"], GQA_SUMMARY=unit["summary"])
        for k in ("GQA_SPEC2", "GQA_GOLDEN"):           # only what this unit's entry sets
            if k not in unit["env"]:
                os.environ.pop(k, None)
        t0 = time.perf_counter()
        try:
            await run_unit(UnitPorts(dut, unit["prefix"]))
            write_summary(failed=0)
        except Exception as e:                           # noqa: BLE001 - recorded per unit, the group goes on
            dut._log.error(f"{unit['prefix']}: {type(e).__name__}: {e}")
            write_summary(failed=1, error=f"{type(e).__name__}: {e}")
            failed.append(unit["prefix"])
        write_summary(seconds=round(time.perf_counter() - t0, 3))
    assert not failed, f"failed: {', '.join(failed)}"
