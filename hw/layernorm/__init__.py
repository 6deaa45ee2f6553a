"""Row-wise INT8 LayerNorm built from the rsqrt PWL table."""
