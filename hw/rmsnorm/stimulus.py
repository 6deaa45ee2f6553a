"""RMSNorm's rows are LayerNorm's (rows of exactly ``row_len`` codes; see
:mod:`hw.layernorm.stimulus`)."""

from hw.layernorm.stimulus import accuracy_rows, bench_lasts, bench_rows, handoff_rows, timing_lengths

__all__ = ["accuracy_rows", "bench_lasts", "bench_rows", "handoff_rows", "timing_lengths"]
