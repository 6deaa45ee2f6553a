"""A user's own Amaranth design around the softmax unit, connected by streams.

``ScoresToProbabilities`` takes scores on an :mod:`amaranth.lib.stream`
input (payload ``{data, last}``), queues them in a FIFO (so a bursty producer
need not wait for the unit) and passes them to the softmax unit with
``wiring.connect``; the probabilities leave on a stream output (payload
``{data, last, overflow}``). The unit comes from a configuration, exactly as
``make gen OP=softmax`` builds it::

    from flow.build import rowwise_model
    from hw.softmax.config import Softmax
    from sim.stream_example import ScoresToProbabilities

    md, _ = rowwise_model(Softmax(8), "build")     # fits the tables (or reuses build/softmax_tables/)
    top = ScoresToProbabilities(md)

``python -m sim.stream_example [build_dir]`` runs one row through
the design in Amaranth's simulator and checks it against the golden model
(``hw/softmax/model.py``); ``tests/test_stream_example.py`` does the same for
many rows with gaps and back-pressure.
"""

from __future__ import annotations

import sys

from amaranth.hdl import Module, Shape
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.rowbuf import DEFAULT_BUFFERS
from hw.softmax.unit import SoftmaxStream


class ScoresToProbabilities(wiring.Component):
    """Scores in, probabilities out, a FIFO of ``depth`` scores in front of the
    softmax unit of ``model`` (a :class:`hw.softmax.model.Softmax`)."""

    def __init__(self, model, depth: int = 16, row_buffers: int = DEFAULT_BUFFERS):
        self.softmax = SoftmaxStream(model, row_buffers)
        self.depth = depth
        super().__init__({
            "scores": In(stream.Signature(self.softmax.in_layout)),
            "probs": Out(stream.Signature(self.softmax.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self.softmax.in_layout).width
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=width, depth=self.depth)
        m.submodules.softmax = sm = self.softmax
        wiring.connect(m, wiring.flipped(self.scores), queue.w_stream)
        wiring.connect(m, queue.r_stream, sm.i)          # the FIFO's word is the payload {data, last}
        wiring.connect(m, sm.o, wiring.flipped(self.probs))
        return m


def stream_rows(dut, source, sink, rows, flag: str, gap=lambda cyc: False, ready=lambda cyc: True,
                max_cycles: int | None = None, before=None):
    """Simulate ``dut`` on ``rows`` (lists of input codes) sent into the
    stream ``source`` (payload ``{data, last}``) and collected from the
    stream ``sink`` (payload ``{data, last, <flag>}``): ``gap(cyc)`` holds
    the input's valid low, ``ready(cyc)`` drives the output's ready, and
    ``before(ctx)``, if given, runs first (e.g. cfg writes). Returns per row
    its outputs as ``[(code, flag)]``."""
    from amaranth.sim import Simulator

    elems = [(v, j == len(r) - 1) for r in rows for j, v in enumerate(r)]
    got = [[] for _ in rows]
    limit = max_cycles or 40 * len(elems) + 1000

    async def bench(ctx):
        if before is not None:
            await before(ctx)
        k = row = cyc = 0
        while row < len(rows) and cyc < limit:
            valid = k < len(elems) and not gap(cyc)
            ctx.set(source.valid, int(valid))
            if k < len(elems):
                ctx.set(source.payload, {"data": int(elems[k][0]), "last": int(elems[k][1])})
            ctx.set(sink.ready, int(ready(cyc)))
            if valid and ctx.get(source.ready):
                k += 1
            if ctx.get(sink.valid) and ctx.get(sink.ready):
                p = ctx.get(sink.payload)
                got[row].append((int(p.data), int(getattr(p, flag))))
                row += int(p.last)
            await ctx.tick()
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


def run_rows(dut: ScoresToProbabilities, rows, gap=lambda cyc: False, ready=lambda cyc: True,
             max_cycles: int | None = None):
    """Simulate ``dut`` on ``rows`` of scores (see :func:`stream_rows`):
    per row its outputs as ``[(code, overflow)]``."""
    return stream_rows(dut, dut.scores, dut.probs, rows, "overflow", gap, ready, max_cycles)


def main(argv=None) -> int:
    from flow.build import rowwise_model
    from hw.softmax.config import Softmax

    build = (argv or sys.argv[1:] or ["build"])[0]
    md, _ = rowwise_model(Softmax(8), build)
    row = [-40, 3, 17, 17, -128, 0, 90, -7]
    got = run_rows(ScoresToProbabilities(md), [row])[0]
    want, overflow = md.stream_row(row, [j == len(row) - 1 for j in range(len(row))])
    print("scores       ", row)
    print("probabilities", [c for c, _ in got], "(u8.8)")
    ok = [c for c, _ in got] == [int(v) for v in want] and {f for _, f in got} == {int(overflow)}
    print("golden model ", "match" if ok else f"MISMATCH: {[int(v) for v in want]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
