"""Hardware side of GQA-LUT: LUT specs, golden models and Amaranth generators.

Importing ``hw`` or its golden-model modules needs numpy only; Amaranth is
imported by the generator modules (``hw.pwl_int.unit``, ``hw.gen``) alone,
so the fitter can score candidates with the very same golden model the
testbenches use without pulling in the HDL toolchain.
"""
