"""Opt-in speed: fused C++ CPU kernels (GELU, LayerNorm, seeded dropout, gradient norm), applied to a model from outside."""
