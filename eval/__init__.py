"""Evaluation: what the units do for a user, measured on the golden models.

``eval.minilm`` runs all-MiniLM-L6-v2 with its non-linear ops replaced
(``make eval-model``); ``eval.bench_fit`` is the fitter's accuracy and speed
table (``make bench-fit``); ``eval.bench_rowwise`` the softmax and LayerNorm
units against float (``make bench-rowwise``). Nothing here runs Verilog (the
cocotb benches and their drivers are in ``sim``); it reads ``fitter``,
``hw`` and ``flow``, and nothing below imports it."""
