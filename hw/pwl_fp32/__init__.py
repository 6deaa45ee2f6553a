"""FP32 piecewise-linear unit (the paper's FP32 baseline): golden model
(``model``, numpy only) and Amaranth generator (``unit``)."""
