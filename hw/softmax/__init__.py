"""Row-wise INT8 softmax built from the exp and reciprocal PWL tables."""
