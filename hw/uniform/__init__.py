"""Uniform-segment PWL units (``impl: "uniform"``): 2^k equal segments, no comparator bank."""
