"""Row-wise INT8 softmax: the buffered unit (exp and reciprocal PWL tables) and the two-pass one (exp2 and log2)."""
