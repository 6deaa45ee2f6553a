"""GQA-LUT fitter: float function + quantization formats -> LUT spec (JSON)."""
