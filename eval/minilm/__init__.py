"""End-to-end check on a real Transformer: all-MiniLM-L6-v2 (numpy forward
pass) with GELU, softmax and LayerNorm on the bit-exact golden models of
the hardware units. ``python -m eval.minilm --help``; ``make eval-model``."""
