"""Integer piecewise-linear unit: golden model (``model``, numpy only) and
Amaranth generator (``unit``)."""
