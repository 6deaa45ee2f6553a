"""Segment-local polynomial units (``impl: "poly"``): 2^k equal segments, each
segment's polynomial evaluated in the local offset ``t`` (the input's low bits)."""
