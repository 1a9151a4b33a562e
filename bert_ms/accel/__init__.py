"""Speed on CPU: fused C++ kernels (GELU, LayerNorm, linear layers, seeded dropout, gradient norm), built by make setup, applied to a model from outside."""

from bert_ms.accel.cells import FusedGELU, FusedLayerNorm, FusedLinear, accelerate, fused_cells, restore

__all__ = ["FusedGELU", "FusedLayerNorm", "FusedLinear", "accelerate", "fused_cells", "restore"]
