"""Orchestration: unit configurations (``config``), fit-or-reuse and build
(``build``), and the ``gqa-lut`` command line (``cli``)."""
