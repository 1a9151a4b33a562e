"""Opt-in speed: fused C++ CPU kernels (GELU, LayerNorm, seeded dropout, gradient norm), applied to a model from outside."""

from bert_ms.accel.cells import FusedGELU, FusedLayerNorm, accelerate, fused_cells, restore

__all__ = ["FusedGELU", "FusedLayerNorm", "accelerate", "fused_cells", "restore"]
